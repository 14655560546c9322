"""``llamacpp/<gguf-path-or-alias>``: llama.cpp's own server, run inside this process, spoken to over loopback.

The server (from the prebuilt ``xllamacpp`` wheel) starts on the first request, on 127.0.0.1 and a free port,
with one parallel slot per concurrent request the run allows (capped) and continuous batching across them.
Requests then go through :class:`OpenAIBackend`, the same code path as a hosted API: errors, usage and
``top_logprobs`` parsing are shared, and retries and timeouts are those of every backend. Prompt caching is on:
a request whose prompt starts as one a slot already holds computes only the rest, and each call's usage says how
many prompt tokens were reused (``cached_prompt_tokens``). Settings: ``?slots=N`` (parallel sequences), ``?ctx=N``
(context tokens per slot) and ``?threads=N`` (default: every core this process may use; fewer when other work shares
the cores, since llama.cpp's threads wait for each other at every step).

Each request names its slot (llama.cpp's ``id_slot``), chosen here by :class:`SlotChooser`: a slot keeps the
prompt it last served, so a call goes to the free slot whose prompt covers at least half of its own and the most of
it: the slot of the game's earlier calls (they share the passage, the question and the earlier rounds), of
another game of the same item, or, for a judge, of another game's judge (the same rules and question); else to the
free slot that last served the game, else to the free slot used least recently, so that a cold slot is taken
before one holding another game's prefix.
llama.cpp's own choice, the free slot whose prompt shares the most with the request, would put a new game in a
slot holding another game's prompt when they share no more than the template's opening, while a slot stands cold;
llama.cpp would then copy the evicted prompt to its prompt cache in host memory and back, so choosing here saves
those copies and keeps a game's prefix even when that cache is full or off. The run's limiter holds as many
requests in flight as the server has slots, so a free slot exists whenever a request is sent. A prompt longer than
a slot's context fails its call with one line naming ``?ctx=``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import time
import urllib.request
from importlib.metadata import version
from typing import Any, ClassVar

import openai

from oversight.errors import FatalRunError, UserError
from oversight.models.base import (
    LOCAL_MIN_TIMEOUT,
    BackendOptions,
    Completion,
    ModelBackend,
    ModelSpec,
    Request,
    shared_prefix,
)
from oversight.models.openai_backend import OpenAIBackend
from oversight.models.retry import Failure
from oversight.weights import ALIASES, resolve_gguf

MAX_SLOTS = 16
DEFAULT_CTX_PER_SLOT = 4096
#: a new game's first call takes a slot holding another game's prompt only when that prompt covers this much of its
#: own (the same passage and question); a shared template opening alone does not take a slot from a live game
SHARED_ENOUGH = 0.5
HEALTH_WAIT = 30.0

#: the only references to running servers, by backend; dropping one stops it, and exit drops them all
_running: dict[int, Any] = {}
atexit.register(_running.clear)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class SlotChooser:
    """Which of the server's slots each request takes: the free slot whose last prompt shares the most with this one,
    if that is at least :data:`SHARED_ENOUGH` of it (of equals, the slot that last served the request's affinity
    key); else the free slot that last served the key (a prompt of the game in another role: the judge after its
    speakers); else the free slot used least recently (a cold one first). Calls without a key count as one key of
    their own."""

    def __init__(self, slots: int) -> None:
        self._free = set(range(slots))
        #: slot → the key and the prompt text of the request it last served (its prompt is still there); a cold slot
        #: has no entry
        self._last: dict[int, tuple[str | None, str]] = {}
        #: slot → when it was last given back, on a counter (-1: never used)
        self._used = [-1] * slots
        self._clock = 0

    def take(self, affinity: str | None, prompt: str) -> int | None:
        """A free slot for a request with this key and prompt text, held until :meth:`give_back`; None when none is
        free (more requests in flight than slots: the server queues it for the first slot to free up)."""
        if not self._free:
            return None
        held = {slot: self._last[slot] for slot in self._free if slot in self._last}  # free, and not cold
        own = [slot for slot, (key, _) in held.items() if key == affinity]
        shared = {slot: shared_prefix(text, prompt) for slot, (_, text) in held.items()}
        # most shared first; of equals, the key's own slot, then the one used last (when a key's calls overlapped,
        # the last of its slots holds its longest prompt)
        best = max(self._free, key=lambda slot: (shared.get(slot, 0), slot in own, self._used[slot]))
        if prompt and shared.get(best, 0) >= SHARED_ENOUGH * len(prompt):
            slot = best
        elif own:
            slot = max(own, key=self._used.__getitem__)
        else:
            slot = min(self._free, key=self._used.__getitem__)
        self._free.remove(slot)
        self._last[slot] = (affinity, prompt)
        return slot

    def give_back(self, slot: int) -> None:
        """The request that took ``slot`` has ended."""
        self._clock += 1
        self._used[slot] = self._clock
        self._free.add(slot)


def prompt_text(request: Request) -> str:
    """The request's messages as one text, for comparing prompts by their common start."""
    return "".join(f"\x00{message.role}\x01{message.content}" for message in request.messages)


class LlamaCppBackend(ModelBackend):
    """A GGUF model served by llama.cpp in this process, spoken to as an OpenAI-compatible endpoint."""

    slow_start: ClassVar[bool] = True

    provider: ClassVar[str] = "llamacpp"
    known_params: ClassVar[frozenset[str]] = frozenset({"slots", "ctx", "threads"})
    min_timeout: ClassVar[float] = LOCAL_MIN_TIMEOUT

    def __init__(self, spec: ModelSpec, options: BackendOptions) -> None:
        super().__init__(spec, options)
        try:
            import xllamacpp
        except ImportError:
            raise UserError(f"model spec {spec.raw!r}: the llamacpp backend needs xllamacpp (pip install xllamacpp)") from None
        self._xllamacpp = xllamacpp
        self.path = resolve_gguf(spec.name)  # unknown alias, missing or corrupt file: fail before the run starts
        self.slots = spec.positive("slots", int, min(options.max_connections, MAX_SLOTS))
        self.ctx = spec.positive("ctx", int, DEFAULT_CTX_PER_SLOT)
        self.threads = spec.positive("threads", int, _cores())
        alias = ALIASES.get(spec.name)
        weights = {"sha256": alias.sha256} if alias else {"path": str(self.path.resolve()), "size": self.path.stat().st_size}
        self._identity = {"provider": self.provider, "model": spec.name, **weights, "runtime": f"xllamacpp {version('xllamacpp')}"}
        self._inner: OpenAIBackend | None = None
        self._slots = SlotChooser(self.slots)

    def cache_identity(self) -> dict[str, Any]:
        # the weights and the runtime decide the response; the port and the slot count do not
        return self._identity

    async def start(self) -> None:
        """Start the server and connect to it."""
        url = await asyncio.to_thread(self._launch)
        # as many requests in flight as the server has slots, never more: none waits in the server's queue
        self.options.fix_limit(url, self.slots)
        inner_spec = ModelSpec(raw=self.spec.raw, provider="openai", name=self.spec.name, params={"base_url": url})
        self._inner = OpenAIBackend(inner_spec, self.options)
        self._slots = SlotChooser(self.slots)  # a new server's slots are all cold
        # llama.cpp's default, said outright: a prompt that starts as one a slot holds computes only what follows
        # the shared prefix; the reply says how many tokens it reused (Usage.cached_prompt_tokens)
        self._inner.extra_body = {"cache_prompt": True}

    def endpoints(self) -> tuple[str, ...]:
        """The server's base URL, once it runs."""
        return self._inner.endpoints() if self._inner is not None else ()

    async def send(self, request: Request) -> Completion:
        """One chat completion request to the server, in the slot :class:`SlotChooser` picks for its affinity key."""
        if self._inner is None:
            raise RuntimeError(f"{self.spec.raw}: send before start")
        slot = self._slots.take(request.affinity, prompt_text(request))
        if slot is None:
            return await self._inner.send(request)
        try:
            return await self._inner.send(request, {"id_slot": slot})
        finally:
            self._slots.give_back(slot)

    def classify(self, exc: BaseException) -> Failure:
        """As for any OpenAI-compatible server."""
        return self._inner.classify(exc) if self._inner is not None else super().classify(exc)

    def describe(self, exc: BaseException) -> str:
        """As for any OpenAI-compatible server; a prompt longer than a slot's context names the setting to raise."""
        body = exc.body if isinstance(exc, openai.APIStatusError) else None
        if isinstance(body, dict) and body.get("type") == "exceed_context_size_error":
            tokens = body.get("n_prompt_tokens")
            if isinstance(tokens, int):
                return (
                    f"the prompt ({tokens} tokens) does not fit in a slot's context ({self.ctx} tokens); "
                    f"raise ?ctx= to at least {1 << tokens.bit_length()}"
                )
        return self._inner.describe(exc) if self._inner is not None else super().describe(exc)

    def _launch(self) -> str:
        xl = self._xllamacpp
        params = xl.CommonParams()
        params.model.path = str(self.path)
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # the server binds a free port and reports it in listening_address
        params.n_parallel = self.slots
        params.n_ctx = self.slots * self.ctx  # split evenly: each slot gets ctx tokens
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = self.threads
        params.verbosity = -1  # errors surface as exceptions below, not as log lines
        try:
            server = xl.Server(params)
        except RuntimeError:
            raise FatalRunError(f"{self.path}: llama.cpp could not load this model (corrupt or unsupported GGUF)") from None
        _running[id(self)] = server
        url = str(server.listening_address).rstrip("/")
        _wait_healthy(url)
        return f"{url}/v1"

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()
            self._inner = None
        _running.pop(id(self), None)  # the last reference: its destructor stops the loop and joins the threads


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + HEALTH_WAIT
    while True:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            if response.status == 200:
                return
        if time.monotonic() > deadline:
            raise FatalRunError(f"llama.cpp server at {url} did not become healthy within {HEALTH_WAIT:.0f} s")
        time.sleep(0.1)


__all__ = ["LlamaCppBackend"]
