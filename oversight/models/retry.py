"""Retrying failed model calls, for any backend: exponential backoff with jitter, ``Retry-After``, bounded attempts.

A backend says what each of its failures means (:class:`Failure`: worth another attempt, wrong for this request
only, or wrong for every request) and how to put one in a line; the rest is here. Every retry is counted in the
run's :class:`RetryStats`, which the progress display shows and which ends the run with one summary line; the
detail of each retry is logged at INFO, which ``oversight --verbose`` shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import enum
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from oversight.secrets import redact

#: longest a server's ``Retry-After`` is obeyed; beyond it the call waits this long and tries again
MAX_RETRY_AFTER = 60.0
MAX_BACKOFF = 20.0

T = TypeVar("T")
#: how a retry waits out its delay: :func:`asyncio.sleep`, or in tests one that returns at once
Sleep = Callable[[float], Awaitable[None]]
log = logging.getLogger(__name__)


class FailureKind(enum.Enum):
    """What a failed request means for the call that made it and for the run."""

    #: it may pass if sent again (a 503, a dropped connection, a timeout, a batch out of memory): retried
    TRANSIENT = "transient"
    #: this request fails however often it is sent (a 400, a crash while generating): its game fails
    REJECTED = "rejected"
    #: no request to this model can succeed (a rejected key, an unknown model): the run stops
    FATAL = "fatal"


@dataclass(frozen=True)
class Failure:
    """A backend's reading of one failed request: what kind of failure it is and how to handle it."""

    kind: FailureKind
    #: a short label such as ``HTTP 503`` or ``out of memory``, under which a retry is counted
    reason: str
    #: the endpoint has more than it can take, so fewer requests go to it at once
    overloaded: bool = False
    #: seconds the server asked to wait before the next attempt (``Retry-After``)
    retry_after: float | None = None

    @classmethod
    def transient(cls, reason: str, overloaded: bool = False, retry_after: float | None = None) -> Failure:
        """A failure worth another attempt."""
        return cls(FailureKind.TRANSIENT, reason, overloaded, retry_after)

    @classmethod
    def rejected(cls, reason: str) -> Failure:
        """A failure of this request only, which another attempt would repeat."""
        return cls(FailureKind.REJECTED, reason)

    @classmethod
    def fatal(cls, reason: str) -> Failure:
        """A failure every request to this model would meet."""
        return cls(FailureKind.FATAL, reason)


class RetryStats:
    """The retries of one run, by reason."""

    def __init__(self) -> None:
        self.reasons: Counter[str] = Counter()

    @property
    def total(self) -> int:
        """How many retries the run made."""
        return self.reasons.total()

    def record(self, reason: str) -> None:
        """Count one retry under ``reason``."""
        self.reasons[reason] += 1

    def summary(self) -> str | None:
        """One line such as ``2,817 retries of model calls (1,402 × HTTP 503, …)``, or None without retries."""
        if not self.reasons:
            return None
        parts = ", ".join(f"{n:,} × {reason}" for reason, n in self.reasons.most_common())
        return f"{self.total:,} {'retry' if self.total == 1 else 'retries'} of model calls ({parts})"


class GaveUp(Exception):
    """A call still failed after its last attempt; the message says how often it was tried and how it failed."""

    def __init__(self, attempts: int, description: str) -> None:
        super().__init__(f"gave up after {attempts} attempt{'s' if attempts != 1 else ''}: {description}")


def retry_after(exc: BaseException) -> float | None:
    """Seconds an HTTP error's ``Retry-After`` (or ``retry-after-ms``) header asks for, if it has one."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        with contextlib.suppress(ValueError):
            return float(ms) / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, when.timestamp() - time.time()) if when else None


class RetryPolicy:
    """How calls are retried: failures ``classify`` calls transient are tried again, up to ``attempts`` in all,
    after the wait the server asks for or else an exponentially growing one with jitter."""

    def __init__(
        self,
        attempts: int,
        backoff: float,
        classify: Callable[[BaseException], Failure],
        describe: Callable[[BaseException], str],
        stats: RetryStats | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.attempts = attempts
        self.classify = classify
        self.describe = describe
        self.stats = stats
        self.sleep = sleep
        self._backoff = wait_exponential_jitter(multiplier=backoff, max=MAX_BACKOFF, jitter=backoff)

    def transient(self, exc: BaseException) -> bool:
        """Whether ``exc`` is worth another attempt."""
        return self.classify(exc).kind is FailureKind.TRANSIENT

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None and (after := self.classify(exc).retry_after) is not None:
            return min(after, MAX_RETRY_AFTER)
        return self._backoff(state)

    async def call(self, label: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt()`` until it succeeds; a failure that is not transient is raised as it is, and a transient one
        that outlasts the attempts as :class:`GaveUp`. A call that succeeds at once builds no retry machinery."""
        try:
            return await attempt()
        except Exception as exc:
            if not self.transient(exc):
                raise
            first = [exc]

        async def again() -> T:
            # the first attempt, already made, fails here again: tenacity waits and logs as if it had made it
            if first:
                raise first.pop()
            return await attempt()

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            if exc is None:
                return
            if self.stats is not None:
                self.stats.record(self.classify(exc).reason)
            delay = state.next_action.sleep if state.next_action else 0.0
            failed = f"attempt {state.attempt_number} failed ({self.describe(exc)})"
            log.info(redact(f"{label}: {failed}; retrying in {delay:.2f}s"))

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception(self.transient),
            before_sleep=before_sleep,
            sleep=self.sleep,
            reraise=True,
        )
        try:
            return await retrying(again)
        except Exception as exc:
            if self.transient(exc):
                raise GaveUp(self.attempts, self.describe(exc)) from exc
            raise


__all__ = ["Failure", "FailureKind", "GaveUp", "RetryPolicy", "RetryStats", "Sleep", "retry_after"]
