"""The models of one run: one backend per spec, the response cache in front of them, closed together.

Each backend comes from :func:`oversight.models.create_backend`, so every call through the pool gets the same
retries, timeouts, fatal stops, limits and pacing (:mod:`oversight.models.reliable`). A call may carry an
affinity key, which goes with it to the backend so that the calls of one game reach the replica or slot that holds
their shared prompt prefix.
"""

from __future__ import annotations

import time
from typing import Protocol

from oversight.models import create_backend
from oversight.models.base import BackendOptions, ChatMessage, Completion, GenerationSettings
from oversight.models.cache import ResponseCache, StoredRequest, cache_key
from oversight.models.reliable import ReliableBackend


class PoolWatcher(Protocol):
    """What a pool tells whoever shows a run's progress."""

    def loading(self, spec: str) -> None:
        """A slow-starting model is being started (weights assembled and loaded, a server launched)."""

    def loaded(self, spec: str, seconds: float) -> None:
        """It is ready, after ``seconds``."""

    def called(self) -> None:
        """A call was answered by a model (not by the cache)."""


class ModelPool:
    """The backends of one run by spec, sharing ``options`` (limits, retry counts), behind the response cache."""

    def __init__(
        self, options: BackendOptions, cache: ResponseCache | None = None, watcher: PoolWatcher | None = None
    ) -> None:
        self.options = options
        self.cache = cache
        #: told of slow starts and of every call sent to a model (the run's progress display)
        self.watcher = watcher
        self._backends: dict[str, ReliableBackend] = {}
        self._announced: set[str] = set()

    def backend(self, spec: str) -> ReliableBackend:
        """The backend for ``spec``, made on first use (an unknown provider or a bad setting fails here)."""
        if spec not in self._backends:
            self._backends[spec] = create_backend(spec, self.options)
        return self._backends[spec]

    async def call(
        self, spec: str, messages: list[ChatMessage], settings: GenerationSettings, sample: int = 0,
        affinity: str | None = None,
    ) -> tuple[str, Completion]:
        """The request's key (the cache's, under which the cache also keeps the request) and its completion.

        Calls with the same ``affinity`` key (the calls of one game) are sent where their shared prompt prefix is
        warm; the key is no part of the cache's key."""
        backend = self.backend(spec)
        key = cache_key(backend.cache_identity(), messages, settings, sample)
        if self.cache is None:
            return key, await self._send(spec, backend, messages, settings, sample, affinity)
        if backend.cacheable and (hit := self.cache.get(key)) is not None:
            return key, hit  # its request was kept when the response was
        self.cache.put_request(key, StoredRequest(messages=messages, settings=settings, sample=sample))
        completion = await self._send(spec, backend, messages, settings, sample, affinity)
        if backend.cacheable:
            self.cache.put(key, completion)
        return key, completion

    async def _send(
        self, spec: str, backend: ReliableBackend, messages: list[ChatMessage], settings: GenerationSettings,
        sample: int, affinity: str | None,
    ) -> Completion:
        """Ask the backend, starting it first as a step of its own when it is slow to start (the first call to a
        local model loads its weights: minutes on first use, while no game can move)."""
        if self.watcher is not None and backend.backend.slow_start and not backend.started:
            first = spec not in self._announced
            self._announced.add(spec)
            if first:
                self.watcher.loading(spec)
            started = time.monotonic()
            await backend.start()
            if first:
                self.watcher.loaded(spec, time.monotonic() - started)
        completion = await backend.complete(messages, settings, sample, affinity)
        if self.watcher is not None:
            self.watcher.called()
        return completion

    async def aclose(self) -> None:
        """Close every backend and the cache."""
        for backend in self._backends.values():
            await backend.aclose()
        self._backends.clear()
        if self.cache is not None:
            self.cache.close()
