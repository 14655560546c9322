"""Retrying failed model calls, for any backend: exponential backoff with jitter, ``Retry-After``, bounded attempts.

A backend says which failures may pass if the call is made again (``transient``), how to put one in a line
(``describe``) and under which short reason to count it (``reason``); the rest is here. Every retry is counted
in the run's :class:`RetryStats`, which the progress display shows and which ends the run with one summary
line; the detail of each retry is logged at INFO, which ``oversight --verbose`` shows.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from oversight.secrets import redact

#: longest a server's ``Retry-After`` is obeyed; beyond it the call waits this long and tries again
MAX_RETRY_AFTER = 60.0
MAX_BACKOFF = 20.0

T = TypeVar("T")
log = logging.getLogger(__name__)


class RetryStats:
    """The retries of one run, by reason."""

    def __init__(self) -> None:
        self.reasons: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return self.reasons.total()

    def record(self, reason: str) -> None:
        self.reasons[reason] += 1

    def summary(self) -> str | None:
        """One line such as ``2,817 retries of model calls (1,402 × HTTP 503, …)``, or None without retries."""
        if not self.reasons:
            return None
        parts = ", ".join(f"{n:,} × {reason}" for reason, n in self.reasons.most_common())
        return f"{self.total:,} {'retry' if self.total == 1 else 'retries'} of model calls ({parts})"


class GaveUp(Exception):
    """A call still failed after its last attempt; the backend says where, as a ``ModelCallError``."""

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


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _reason(exc: BaseException) -> str:
    return type(exc).__name__


class RetryPolicy:
    """How one backend retries: ``transient`` failures are tried again up to ``attempts`` times in all."""

    def __init__(
        self,
        attempts: int,
        backoff: float,
        transient: Callable[[BaseException], bool],
        describe: Callable[[BaseException], str] = _describe,
        reason: Callable[[BaseException], str] = _reason,
        stats: RetryStats | None = None,
    ) -> None:
        self.attempts = attempts
        self.transient = transient
        self.describe = describe
        self.reason = reason
        self.stats = stats
        self._backoff = wait_exponential_jitter(multiplier=backoff, max=MAX_BACKOFF, jitter=backoff)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None and (after := retry_after(exc)) is not None:
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
                self.stats.record(self.reason(exc))
            delay = state.next_action.sleep if state.next_action else 0.0
            failed = f"attempt {state.attempt_number} failed ({self.describe(exc)})"
            log.info(redact(f"{label}: {failed}; retrying in {delay:.2f}s"))

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception(self.transient),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return await retrying(again)
        except Exception as exc:
            if self.transient(exc):
                raise GaveUp(self.attempts, self.describe(exc)) from exc
            raise


__all__ = ["GaveUp", "RetryPolicy", "RetryStats", "retry_after"]
