"""A small OpenAI-compatible chat server on 127.0.0.1, for tests, benchmarks and offline dry runs.

The model name picks a scripted policy (``judge``, ``debater``, ``echo`` …; anything else echoes), so a debate
played through real HTTP still makes sense. It can add a fixed latency and play back injected faults — 429
with ``Retry-After``, 5xx, malformed JSON, a reply without choices, a hang, a dropped connection — one per
request, in order. With
``slots`` it serves that many requests at a time and queues the rest, as a single-slot llama.cpp server does;
a queued request whose client gave up is still served, as there. It keeps the bodies of the last requests it
answered, so a test can see which of several servers each call reached.

Run it by hand with ``python -m oversight.loopback --port 8000 --latency 0.2 --slots 1``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from oversight.models.base import ChatMessage, GenerationSettings
from oversight.policies import POLICIES

FAULTS = ("429", "500", "503", "garbage", "empty", "hang", "drop", "401", "400", "404")
#: answered requests kept for tests to inspect (a long dry run keeps no more)
ANSWERED_KEPT = 1000


@dataclass
class ServerState:
    """The server's settings, the faults still to play back, and what it has received (chat requests, the
    ``Authorization`` headers they carried, the bodies of those it answered), for tests to inspect."""

    latency: float = 0.0
    api_key: str | None = None
    #: requests served at once (the rest wait their turn); 0 for no limit
    slots: int = 0
    retry_after: str = "0"
    faults: list[str] = field(default_factory=list)
    chat_requests: int = 0
    #: the JSON bodies of the last :data:`ANSWERED_KEPT` chat requests it answered with a completion, oldest first
    answered: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=ANSWERED_KEPT))
    authorizations: set[str] = field(default_factory=set)
    #: set when the server stops, so hung requests end instead of holding up shutdown
    released: asyncio.Event = field(default_factory=asyncio.Event)


def _policy_for(model: str) -> Any:
    name = model.split("/")[-1]
    return POLICIES.get(name) if name in POLICIES.names() else POLICIES.get("echo")


def _logprobs_json(completion: Any) -> dict[str, Any] | None:
    if not completion.logprobs:
        return None
    return {
        "content": [
            {
                "token": t.token,
                "logprob": t.logprob,
                "bytes": list(t.token.encode()),
                "top_logprobs": [
                    {"token": top.token, "logprob": top.logprob, "bytes": list(top.token.encode())}
                    for top in t.top_logprobs
                ],
            }
            for t in completion.logprobs
        ]
    }


def build_app(state: ServerState) -> web.Application:
    """The aiohttp application: ``/v1/chat/completions`` answered by the scripted policy the model name picks, and
    ``/v1/models`` listing the policies."""
    serving = asyncio.Semaphore(state.slots) if state.slots else contextlib.nullcontext()

    async def chat(request: web.Request) -> web.StreamResponse:
        state.chat_requests += 1
        state.authorizations.add(request.headers.get("Authorization", ""))
        if state.api_key is not None and request.headers.get("Authorization") != f"Bearer {state.api_key}":
            return web.json_response({"error": {"message": "invalid api key", "type": "auth"}}, status=401)
        fault = state.faults.pop(0) if state.faults else None
        if fault == "hang":
            await state.released.wait()
            raise web.HTTPServiceUnavailable()
        if fault == "drop" and request.transport is not None:
            request.transport.close()  # the connection closes under the request, without a reply
            return web.Response()
        if fault == "429":
            return web.json_response(
                {"error": {"message": "rate limited"}}, status=429, headers={"Retry-After": state.retry_after}
            )
        if fault in ("500", "503", "400", "401", "404"):
            return web.json_response({"error": {"message": f"injected {fault}"}}, status=int(fault))
        if fault == "garbage":
            return web.Response(text='{"id": "x", "choices": [', content_type="application/json")
        body = await request.json()
        async with serving:
            if state.latency:
                await asyncio.sleep(state.latency)
            if fault == "empty":
                return web.json_response({"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []})
            messages = [ChatMessage(role=m["role"], content=m["content"]) for m in body["messages"]]
            settings = GenerationSettings(
                max_tokens=body.get("max_tokens") or 512,
                temperature=body.get("temperature") or 0.0,
                logprobs=bool(body.get("logprobs")),
                top_logprobs=body.get("top_logprobs"),
            )
            completion = _policy_for(body["model"])(messages, settings, 0, {})
            state.answered.append(body)
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": completion.text},
            "finish_reason": "stop",
            "logprobs": _logprobs_json(completion) if settings.logprobs else None,
        }
        return web.json_response(
            {
                "id": f"chatcmpl-{state.chat_requests}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [choice],
                "usage": {
                    "prompt_tokens": completion.usage.prompt_tokens,
                    "completion_tokens": completion.usage.completion_tokens,
                    "total_tokens": completion.usage.total_tokens,
                },
            }
        )

    async def models(request: web.Request) -> web.Response:
        data = [{"id": name, "object": "model", "owned_by": "oversight"} for name in POLICIES.names()]
        return web.json_response({"object": "list", "data": data})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    return app


class LoopbackServer:
    """The server in a background thread with its own event loop; ``url`` is its ``/v1`` base URL."""

    def __init__(self, latency: float = 0.0, api_key: str | None = None, port: int = 0, slots: int = 0) -> None:
        self.state = ServerState(latency=latency, api_key=api_key, slots=slots)
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="loopback-server", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        """The ``/v1`` base URL to give a client, once the server is started."""
        return f"http://127.0.0.1:{self.port}/v1"

    def inject(self, *faults: str) -> None:
        """Queue faults to play back, one per chat request in the order given; ValueError for a name not in
        :data:`FAULTS`."""
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {FAULTS}")
        self._loop.call_soon_threadsafe(self.state.faults.extend, faults)

    async def _start(self) -> int:
        self._runner = web.AppRunner(build_app(self.state), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port, backlog=1024)
        await site.start()
        return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def start(self) -> LoopbackServer:
        """Start serving (on a free port unless one was given) and return the server once it listens."""
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        """Let hung requests end, close the server and stop its thread."""
        self._loop.call_soon_threadsafe(self.state.released.set)
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """Serve from the command line (``python -m oversight.loopback``) until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every reply")
    parser.add_argument("--api-key", default=None, help="require this bearer key")
    parser.add_argument("--slots", type=int, default=0, help="requests served at once, the rest queue (0: no limit)")
    args = parser.parse_args()
    state = ServerState(latency=args.latency, api_key=args.api_key, slots=args.slots)
    print(f"serving on http://127.0.0.1:{args.port}/v1", flush=True)
    web.run_app(build_app(state), host="127.0.0.1", port=args.port, access_log=None, print=None, backlog=1024)


if __name__ == "__main__":
    main()
