"""How many requests each endpoint gets at once, learnt from how it answers, and a timeout for the server's work.

Every endpoint (a base URL) has an :class:`AdaptiveLimiter`. Its limit starts at :data:`START` and grows by one
per answered request while the limiter is in use (doubling per round trip), until the first sign of overload:
a timeout, a 429 or 503, or replies that take, on average, :data:`QUEUEING` times the best seen for replies of
their size, which is how a server that queues requests behind its own few slots shows itself. Then the limit
halves and from there grows by one per round trip: additive increase, multiplicative decrease, as TCP does.
After a slowdown alone (no timeout, no 429) it may double back to where it was, since a busy client of our own
also slows replies down and that passes. It never exceeds the ceiling (``--max-connections``) and never falls
below one. A server that batches requests (vLLM) keeps its replies fast as the limit grows, so it gets the
ceiling; a server with one slot is held to a short queue. A server whose capacity is known (one this process
started) gets a fixed limit instead.

The timeout of a request is the time the server spends on it, not time spent queued behind our own requests:
waiting for a slot here never counts, and a request's clock starts again each time the endpoint answers one
of our requests, since until then it may be waiting behind that one in the server's queue. A request times out
once the endpoint has answered nothing for the whole timeout, so a dead server still fails every call after
one timeout, and a request stuck while others pass is never held longer than one timeout per request of ours
that was in flight when it was sent. Until an endpoint has answered once (or timed out once), its
requests get :data:`FIRST_ANSWER` times the timeout: a server's first reply may wait for connections to open
or for a model to load, and a request given up on is often still served, delaying every request after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

#: requests in flight to an endpoint before anything is known about it
START = 4
#: replies this many times slower than the best of their size, on average, waited in the server's queue
QUEUEING = 2.0
#: weight of each reply in that average: a few slow replies in a row count, one outlier does not
SMOOTHING = 0.125
#: how many timeouts the requests sent before an endpoint's first answer get
FIRST_ANSWER = 3.0
#: the best latency of a size class creeps up by this share per reply, so one lucky reply does not set the bar
#: for good (it doubles in about 70 replies that never come close to it)
DRIFT = 0.01

T = TypeVar("T")


class Outcome(enum.Enum):
    """How a request ended, as far as the endpoint's load is concerned."""

    ANSWERED = "answered"
    #: the server said, or showed, it has more than it can take: timeouts, 429, 503
    OVERLOADED = "overloaded"
    #: anything else (a refused connection, a malformed reply): says nothing about load
    FAILED = "failed"


class ServerTimeout(TimeoutError):
    """The server worked on a request for longer than the timeout (time queued behind our own not counted)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {seconds:g} s")
        self.seconds = seconds


@dataclass
class Ticket:
    """One request holding a slot; the caller may set ``size`` (e.g. tokens generated) before releasing it."""

    sent: float
    #: our requests to the endpoint already in flight when it was sent: it may wait behind each of them
    ahead: int
    #: the limiter's epoch when it was sent: a decrease answers the requests sent at the current limit only
    epoch: int
    #: whether the limiter was at least half used when it was sent; only such replies show the limit is safe
    busy: bool
    size: int = 0


class AdaptiveLimiter:
    """Requests in flight to one endpoint, at most ``limit``; waiting here never counts against a timeout."""

    def __init__(self, ceiling: int, start: int = START, adaptive: bool = True) -> None:
        self.ceiling = ceiling
        self.adaptive = adaptive
        self._limit = float(min(start, ceiling))
        #: below this the limit doubles per round trip, above it grows by one (slow start, as in TCP)
        self._threshold = float(ceiling)
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._epoch = 0
        #: when the endpoint last answered: the server was making progress on our queue then
        self._last_answer = float("-inf")
        #: best latency per size class (bit length of ``Ticket.size``)
        self._best: dict[int, float] = {}
        #: moving average of latency ÷ best, over replies sent at the current limit
        self._slowdown = 1.0
        #: nothing answered yet, nor timed out
        self._cold = True

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        return max(1, int(self._limit))

    @property
    def load(self) -> float:
        """Requests here or waiting for a slot, per slot: where to send the next one among replicas."""
        return (self.in_flight + len(self._waiters)) / self.limit

    async def acquire(self) -> Ticket:
        """Wait for a slot (first come, first served) and hold it until :meth:`release`."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
        else:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter  # the slot is counted for us when we are woken
            except asyncio.CancelledError:
                if waiter.cancelled():
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(waiter)
                else:  # handed a slot just as we were cancelled: pass it on
                    self.in_flight -= 1
                    self._wake()
                raise
        busy = self.in_flight >= self._limit / 2
        return Ticket(asyncio.get_running_loop().time(), self.in_flight - 1, self._epoch, busy)

    def _wake(self) -> None:
        # slots freed by a release, or by a grown limit, go to the longest-waiting requests
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self.in_flight += 1

    def release(self, ticket: Ticket, outcome: Outcome) -> None:
        """Free the ticket's slot and learn from how its request ended."""
        self.in_flight -= 1
        self._cold = self._cold and outcome is Outcome.FAILED
        if outcome is Outcome.ANSWERED:
            now = asyncio.get_running_loop().time()
            self._last_answer = now
            if self.adaptive:
                self._learn(ticket, now - ticket.sent)
        elif outcome is Outcome.OVERLOADED and self.adaptive:
            self._decrease(ticket)
        self._wake()

    def _learn(self, ticket: Ticket, latency: float) -> None:
        size = ticket.size.bit_length()
        best = self._best.get(size)
        if best is None:
            # the first reply of its size may itself have queued: assume it did as much as recent replies
            self._best[size] = latency / self._slowdown
            return
        self._best[size] = min(latency, best * (1 + DRIFT))
        if ticket.epoch != self._epoch:
            return  # sent at a limit already given up
        slowdown = latency / best
        self._slowdown = max(1.0, self._slowdown + SMOOTHING * (slowdown - self._slowdown))
        if self._slowdown > QUEUEING:
            self._decrease(ticket, recover=True)
        elif ticket.busy and slowdown <= QUEUEING:
            step = 1 if self._limit < self._threshold else 1 / self._limit
            self._limit = min(float(self.ceiling), self._limit + step)

    def _decrease(self, ticket: Ticket, recover: bool = False) -> None:
        """Halve the limit; with ``recover``, let it double back up to where it was while replies stay fast."""
        if ticket.epoch != self._epoch:
            return  # sent before the last decrease: it reports on a limit already given up
        self._epoch += 1
        self._threshold = self._limit if recover else max(1.0, self._limit / 2)
        self._limit = max(1.0, self._limit / 2)
        # half the requests in flight, about half the wait behind them
        self._slowdown = max(1.0, self._slowdown / 2)

    async def call(
        self,
        send: Callable[[Ticket], Awaitable[T]],
        timeout: float,
        overloaded: Callable[[BaseException], bool],
        pace: Callable[[], Awaitable[object]] | None = None,
    ) -> T:
        """``send(ticket)`` in a slot, timed from when it holds the slot and ``pace`` (a rate limit) lets it go; it
        is cancelled with :class:`ServerTimeout` once the server has had ``timeout`` seconds on it."""
        ticket = await self.acquire()
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        outcome = Outcome.FAILED
        handle: asyncio.TimerHandle | None = None
        expired = False
        try:
            if pace is not None:
                await pace()
            cancelling = task.cancelling()
            ticket.sent = loop.time()
            first = ticket.sent + timeout * (FIRST_ANSWER if self._cold else 1)
            last = first + timeout * ticket.ahead

            def check() -> None:
                nonlocal handle, expired
                deadline = min(last, max(first, self._last_answer + timeout))
                if deadline > loop.time():
                    handle = loop.call_at(deadline, check)
                else:
                    expired = True
                    task.cancel()

            handle = loop.call_at(first, check)
            try:
                result = await send(ticket)
            except BaseException as exc:
                # the same bookkeeping as asyncio.timeout: only our own cancellation becomes a timeout
                if expired and task.uncancel() <= cancelling and isinstance(exc, asyncio.CancelledError):
                    raise ServerTimeout(timeout) from None
                raise
            outcome = Outcome.ANSWERED
            return result
        except ServerTimeout:
            outcome = Outcome.OVERLOADED
            raise
        except Exception as exc:
            outcome = Outcome.OVERLOADED if overloaded(exc) else Outcome.FAILED
            raise
        finally:
            if handle is not None:
                handle.cancel()
            self.release(ticket, outcome)


__all__ = ["FIRST_ANSWER", "START", "AdaptiveLimiter", "Outcome", "ServerTimeout", "Ticket"]
