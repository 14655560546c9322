"""What every model call gets, whichever backend answers it: retries, timeouts, fatal stops, limits and pacing.

:func:`oversight.models.create_backend` puts a :class:`ReliableBackend` around each backend, so a backend only
sends one request and says what its failures mean (:meth:`~oversight.models.base.ModelBackend.classify`). A
call through the wrapper starts the backend on first use, then makes attempts:

- each attempt goes to the backend's endpoint with the most room and holds a slot of that endpoint's
  :class:`~oversight.models.concurrency.AdaptiveLimiter`, shared by every model sent there, after the spec's
  ``rps`` pacing lets it go; a backend that answers in this process is paced but not limited;
- a call with an affinity key (:attr:`~oversight.models.base.Request.affinity`: the calls of one game share a long
  prompt prefix) sticks to one endpoint, where a replica's prefix cache (vLLM's automatic prefix caching) holds
  that prefix: the key's first call takes the endpoint with the most room and the key remembers it; later calls
  go there while it is healthy for the key, that is, while the key's last attempt there did not fail and its load
  (requests in flight or queued per slot) exceeds the least-loaded endpoint's by no more than
  :data:`AFFINITY_MARGIN`. Otherwise the attempt goes to the endpoint with the most room, leaving out the one
  where the key's last attempt failed, and the key moves there. The last :data:`AFFINITY_KEYS` keys used are
  remembered; a call without a key goes to the endpoint with the most room;
- an attempt is given up on after the backend's ``timeout`` of work (:class:`ServerTimeout`); time queued behind
  our own requests does not count;
- a transient failure is tried again after the server's ``Retry-After`` or an exponential backoff with jitter,
  up to ``max_attempts`` attempts, each retry counted in the run's ``RetryStats`` (:mod:`oversight.models.retry`);
  one that outlasts them, like a rejected request, fails its game (:class:`ModelCallError`); a fatal failure
  stops the run (:class:`FatalRunError`).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from asyncio_throttle import Throttler

from oversight.errors import FatalRunError
from oversight.models.base import ChatMessage, Completion, GenerationSettings, ModelBackend, ModelCallError, Request
from oversight.models.concurrency import AdaptiveLimiter, ServerTimeout, Ticket
from oversight.models.retry import Failure, FailureKind, GaveUp, RetryPolicy
from oversight.secrets import redact

#: how many more requests per slot the endpoint of a key may have than the least-loaded endpoint before the key's
#: call goes elsewhere: about one more round of the server's work to wait through, against a prompt to compute anew
AFFINITY_MARGIN = 1.0
#: affinity keys remembered, the least recently used forgotten first: a key is one game, and a run plays at most
#: twice ``--max-connections`` games at once (at most 8,192); a forgotten key's next call is placed as a first one
AFFINITY_KEYS = 8192


class _Lane:
    """Where an attempt goes: an endpoint and its limiter, or for an in-process backend the process itself."""

    def __init__(self, url: str | None, limiter: AdaptiveLimiter | None, requests_per_second: float | None) -> None:
        self.url = url
        self.limiter = limiter
        # asyncio-throttle counts requests per period; a fractional rate becomes one request per 1/rate seconds
        self.throttler: Throttler | None = None
        if requests_per_second:
            if requests_per_second >= 1:
                self.throttler = Throttler(rate_limit=int(requests_per_second), period=1.0)
            else:
                self.throttler = Throttler(rate_limit=1, period=1.0 / requests_per_second)

    @property
    def load(self) -> float:
        return self.limiter.load if self.limiter is not None else 0.0


class ReliableBackend:
    """One backend with retries, timeouts, fatal stops, concurrency limits and pacing around each of its calls."""

    def __init__(self, backend: ModelBackend) -> None:
        self.backend = backend
        self.spec = backend.spec
        self.cacheable = backend.cacheable
        options = backend.options
        self.retry = RetryPolicy(
            backend.max_attempts, options.backoff, self.classify, self.describe, options.retries, options.sleep
        )
        self._lanes: list[_Lane] | None = None
        self._start_lock = asyncio.Lock()
        self._next = 0
        #: affinity key → the lane its calls go to, and whether its last attempt there failed
        self._homes: OrderedDict[str, tuple[_Lane, bool]] = OrderedDict()

    def cache_identity(self) -> dict[str, Any]:
        """The backend's: what, besides the request, decides the response."""
        return self.backend.cache_identity()

    def classify(self, exc: BaseException) -> Failure:
        """What a failed attempt means; errors already phrased for the run end the call as they are."""
        if isinstance(exc, FatalRunError):
            return Failure.fatal(type(exc).__name__)
        if isinstance(exc, ModelCallError):
            return Failure.rejected(type(exc).__name__)
        return self.backend.classify(exc)

    def describe(self, exc: BaseException) -> str:
        """A failed attempt in one line, in the backend's words."""
        return self.backend.describe(exc)

    async def complete(
        self, messages: list[ChatMessage], settings: GenerationSettings, sample: int, affinity: str | None = None
    ) -> Completion:
        """One completion, after as many attempts as it takes and the run allows; ``sample`` tells apart several
        candidates drawn for the same request; calls with the same ``affinity`` key go where their shared prompt
        prefix is warm."""
        lane: _Lane | None = None

        async def attempt() -> Completion:
            nonlocal lane
            lane = picked = self._pick(self._lanes or await self._start(), affinity)
            try:
                return await self._send(picked, Request(messages, settings, sample, picked.url, affinity))
            except Exception:
                if affinity is not None and self._homes.get(affinity, (None, False))[0] is picked:
                    self._homes[affinity] = (picked, True)  # the key's next attempt goes elsewhere
                raise

        try:
            return await self.retry.call(self.spec.raw, attempt)
        except GaveUp as exc:
            raise ModelCallError(redact(f"{self._where(lane)}: {exc}")) from None
        except (FatalRunError, ModelCallError):
            raise
        except Exception as exc:
            message = redact(f"{self._where(lane)}: {self.describe(exc)}")
            if self.classify(exc).kind is FailureKind.FATAL:
                raise FatalRunError(message) from None
            raise ModelCallError(message) from None

    def _where(self, lane: _Lane | None) -> str:
        return self.spec.raw if lane is None or lane.url is None else f"{self.spec.raw} at {lane.url}"

    @property
    def started(self) -> bool:
        """Whether the backend is ready to send (started, and not closed since)."""
        return self._lanes is not None

    async def start(self) -> None:
        """Get the backend ready to send; a call starts it too, this lets a caller show the step on its own."""
        await self._start()

    async def _start(self) -> list[_Lane]:
        async with self._start_lock:
            if self._lanes is None:
                await self.backend.start()
                options, rps = self.backend.options, self.backend.requests_per_second
                urls = self.backend.endpoints()
                self._lanes = [_Lane(url, options.limiter(url), rps) for url in urls] or [_Lane(None, None, rps)]
            return self._lanes

    def _pick(self, lanes: list[_Lane], affinity: str | None) -> _Lane:
        # the most room for another request, starting the scan at a rotating index so ties spread evenly
        n = len(lanes)
        start, self._next = self._next, (self._next + 1) % n
        rotated = [lanes[(start + i) % n] for i in range(n)]
        least = min(rotated, key=lambda lane: lane.load)
        if affinity is None or n == 1:
            return least
        home, failed = self._homes.pop(affinity, (None, False))
        if home is None:
            lane = least
        elif failed:
            lane = min((lane for lane in rotated if lane is not home), key=lambda lane: lane.load)
        else:
            lane = home if home.load <= least.load + AFFINITY_MARGIN else least
        self._homes[affinity] = (lane, False)  # re-inserted: the most recently used key
        if len(self._homes) > AFFINITY_KEYS:
            self._homes.popitem(last=False)
        return lane

    async def _send(self, lane: _Lane, request: Request) -> Completion:
        timeout = self.backend.timeout
        if lane.limiter is None:
            if lane.throttler is not None:
                await lane.throttler.acquire()
            try:
                async with asyncio.timeout(timeout) as scope:
                    return await self.backend.send(request)
            except TimeoutError:
                if scope.expired():
                    raise ServerTimeout(timeout) from None
                raise

        async def send(ticket: Ticket) -> Completion:
            completion = await self.backend.send(request)
            # the limiter compares each reply's latency with the best seen for replies of about its length
            ticket.size = completion.usage.completion_tokens
            return completion

        pace = lane.throttler.acquire if lane.throttler is not None else None
        return await lane.limiter.call(send, timeout, lambda exc: self.classify(exc).overloaded, pace)

    async def aclose(self) -> None:
        """Release what the backend holds; a later call starts it again."""
        await self.backend.aclose()
        self._lanes = None
        self._homes.clear()  # the next start makes new lanes


__all__ = ["ReliableBackend"]
