"""``llamacpp/<gguf-path-or-alias>``: llama.cpp's own server, run inside this process, spoken to over loopback.

The server (from the prebuilt ``xllamacpp`` wheel) starts on the first request, on 127.0.0.1 and a free port,
with one parallel slot per concurrent request the run allows (capped) and continuous batching across them.
Requests then go through :class:`OpenAIBackend`, the same code path as a hosted API: errors, usage and
``top_logprobs`` parsing are shared, and retries and timeouts are those of every backend. Prompt caching is on:
a request whose prompt starts as one a slot already holds computes only the rest, and each call's usage says how
many prompt tokens were reused (``cached_prompt_tokens``). Settings: ``?slots=N`` (parallel sequences), ``?ctx=N``
(context tokens per slot) and ``?threads=N`` (default: every core this process may use; fewer when other work shares
the cores, since llama.cpp's threads wait for each other at every step).
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

from oversight.errors import FatalRunError, UserError
from oversight.models.base import LOCAL_MIN_TIMEOUT, BackendOptions, Completion, ModelBackend, ModelSpec, Request
from oversight.models.openai_backend import OpenAIBackend
from oversight.models.retry import Failure
from oversight.weights import ALIASES, resolve_gguf

MAX_SLOTS = 16
DEFAULT_CTX_PER_SLOT = 4096
HEALTH_WAIT = 30.0

#: the only references to running servers, by backend; dropping one stops it, and exit drops them all
_running: dict[int, Any] = {}
atexit.register(_running.clear)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


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
        # llama.cpp's default, said outright: a prompt that starts as one a slot holds computes only what follows
        # the shared prefix; the reply says how many tokens it reused (Usage.cached_prompt_tokens)
        self._inner.extra_body = {"cache_prompt": True}

    def endpoints(self) -> tuple[str, ...]:
        """The server's base URL, once it runs."""
        return self._inner.endpoints() if self._inner is not None else ()

    async def send(self, request: Request) -> Completion:
        """One chat completion request to the server."""
        if self._inner is None:
            raise RuntimeError(f"{self.spec.raw}: send before start")
        return await self._inner.send(request)

    def classify(self, exc: BaseException) -> Failure:
        """As for any OpenAI-compatible server."""
        return self._inner.classify(exc) if self._inner is not None else super().classify(exc)

    def describe(self, exc: BaseException) -> str:
        """As for any OpenAI-compatible server."""
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
