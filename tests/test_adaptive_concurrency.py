"""Requests in flight adapt to the server, timeouts measure the server's work, and retries are one policy that
every backend can use: against the loopback server over real HTTP, with one slot, faults and dead ports."""

from __future__ import annotations

import asyncio
import importlib.util
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from oversight.errors import UserError
from oversight.loopback import LoopbackServer
from oversight.models import (
    BackendOptions,
    ChatMessage,
    Completion,
    GenerationSettings,
    ModelCallError,
    ModelSpec,
    ReliableBackend,
    create_backend,
)
from oversight.models.concurrency import START, AdaptiveLimiter, Outcome, Ticket

from .conftest import API_KEY, oversight, oversight_in_process, read_lines

HELLO = [ChatMessage(role="user", content="hello there")]
#: the single-slot debate: 80 ms per reply and a timeout of 2.5 replies, against 12 games that all send at
#: once, so a request at the back of the server's queue waits almost five times the timeout (a timeout that
#: counts the queue fails a third of the games here, and its retries queue again)
SLOT_LATENCY = 0.08
SLOT_TIMEOUT = 0.2


def run_calls(
    options: BackendOptions, spec: str, calls: int, warm_up: bool = False
) -> list[Completion | BaseException]:
    """``calls`` concurrent completions through one backend (after one call on its own, with ``warm_up``)."""

    async def go() -> list[Completion | BaseException]:
        backend = create_backend(spec, options)
        try:
            if warm_up:
                await backend.complete(HELLO, GenerationSettings(), 0)
            return await asyncio.gather(
                *(backend.complete(HELLO, GenerationSettings(), i) for i in range(calls)), return_exceptions=True
            )
        finally:
            await backend.aclose()

    return asyncio.run(go())


# the single-slot server


def test_a_debate_against_a_single_slot_server_completes_with_the_default_settings(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LoopbackServer(latency=SLOT_LATENCY, api_key=API_KEY, slots=1) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
        result = oversight("run", "debate", "--model", "openai/debater", "--judge", "openai/judge", "--limit", "6",
                           "--rounds", "2", "--timeout", str(SLOT_TIMEOUT), "--out", "run")
    assert result.returncode == 0, result.stderr
    records = read_lines(workdir / "run" / "transcripts.jsonl")
    assert len(records) == 12
    assert [r["error"] for r in records if r["status"] != "complete"] == []


def test_a_queue_in_the_server_does_not_count_against_the_timeout(openai_env: dict[str, str]) -> None:
    # four requests at once queue behind each other: the last is answered after 0.8 s, each after 0.2 s of work
    with LoopbackServer(latency=0.2, api_key=API_KEY, slots=1) as server:
        spec = f"openai/echo?base_url={server.url}"
        outcomes = run_calls(BackendOptions(timeout=0.5, max_attempts=1), spec, calls=8, warm_up=True)
        assert [o for o in outcomes if isinstance(o, BaseException)] == []
        assert server.state.chat_requests == 9


def test_waiting_for_our_own_connections_does_not_count_against_the_timeout(openai_env: dict[str, str]) -> None:
    # one connection: the eighth call waits 1.4 s for it, and is then answered in 0.2 s
    with LoopbackServer(latency=0.2, api_key=API_KEY) as server:
        spec = f"openai/echo?base_url={server.url}"
        outcomes = run_calls(BackendOptions(max_connections=1, timeout=1.0, max_attempts=1), spec, calls=8)
        assert [o for o in outcomes if isinstance(o, BaseException)] == []
        assert server.state.chat_requests == 8


def test_a_server_that_answers_nothing_still_times_out(openai_env: dict[str, str], server: LoopbackServer) -> None:
    server.inject("hang", "hang", "hang")
    outcomes = run_calls(BackendOptions(timeout=0.2, max_attempts=1), "openai/echo", calls=3)
    assert all(isinstance(o, ModelCallError) and "timed out after 0.2 s" in str(o) for o in outcomes), outcomes


# the limiter's rules, fed replies of chosen latencies

FAST = (Outcome.ANSWERED, 0.1)
SLOW = (Outcome.ANSWERED, 0.5)  # five times the best seen
OVERLOADED = (Outcome.OVERLOADED, 0.1)


def limits_after(replies: list[tuple[Outcome, float]], ceiling: int = 64) -> list[int]:
    """The limit after each reply, with the limiter kept full: each slot a reply frees is taken at once."""

    async def go() -> list[int]:
        limiter = AdaptiveLimiter(ceiling)
        now = asyncio.get_running_loop().time()
        outstanding: deque[Ticket] = deque()
        limits = []
        for outcome, seconds in replies:
            while limiter.in_flight < limiter.limit:
                outstanding.append(await limiter.acquire())
            ticket = outstanding.popleft()
            ticket.sent = now - seconds  # as if it had been sent that long ago
            limiter.release(ticket, outcome)
            limits.append(limiter.limit)
        return limits

    return asyncio.run(go())


def test_the_limit_starts_low_and_grows_by_one_per_reply_while_replies_hold() -> None:
    # the first reply only shows what a reply costs; each one after it adds a request: doubling per round trip
    assert limits_after([FAST] * 6) == [START, START + 1, START + 2, START + 3, START + 4, START + 5]
    assert limits_after([FAST] * 100, ceiling=10)[-1] == 10


def test_overload_halves_the_limit_once_per_round_trip_and_it_then_grows_by_one_per_round_trip() -> None:
    grown = [FAST] * 13
    assert limits_after(grown)[-1] == 16
    # a round trip of 429s or timeouts halves it once, not once per reply
    assert limits_after([*grown, *[OVERLOADED] * 5])[-5:] == [8] * 5
    # from there, one more request per round trip (eight replies), not one per reply
    assert limits_after([*grown, OVERLOADED, *[FAST] * 24])[-1] in (9, 10)
    # a refused connection or a malformed reply says nothing about load
    assert limits_after([*grown, (Outcome.FAILED, 0.1)])[-1] == 16


def test_replies_much_slower_than_the_best_seen_shrink_the_limit_but_one_outlier_does_not() -> None:
    grown = [FAST] * 13
    assert limits_after([*grown, SLOW, *[FAST] * 3])[-4:] == [16, 17, 18, 19]
    assert limits_after([*grown, SLOW, SLOW, SLOW])[-3:] == [16, 16, 8]
    # a slowdown may pass (a busy client slows replies too): the limit doubles back to where it was
    after_slowdown = limits_after([*grown, SLOW, SLOW, SLOW, *[FAST] * 24])[-1]
    after_overload = limits_after([*grown, OVERLOADED, *[FAST] * 24])[-1]
    assert after_slowdown >= 16 > after_overload


def test_slots_go_to_the_longest_waiting_request() -> None:
    async def go() -> list[int]:
        limiter = AdaptiveLimiter(1)
        first = await limiter.acquire()
        order: list[int] = []

        async def wait(n: int) -> None:
            ticket = await limiter.acquire()
            order.append(n)
            limiter.release(ticket, Outcome.FAILED)

        waiting = [asyncio.create_task(wait(n)) for n in range(3)]
        await asyncio.sleep(0)  # let them queue
        waiting[1].cancel()  # a cancelled waiter gives up its place without taking a slot
        limiter.release(first, Outcome.FAILED)
        await asyncio.gather(*waiting, return_exceptions=True)
        assert limiter.in_flight == 0
        return order

    assert asyncio.run(go()) == [0, 2]


# failures named for what they are


def test_a_refused_connection_is_named(openai_env: dict[str, str]) -> None:
    outcome = run_calls(BackendOptions(max_attempts=1), "openai/echo?base_url=http://127.0.0.1:9/v1", calls=1)[0]
    assert isinstance(outcome, ModelCallError)
    assert str(outcome).endswith("gave up after 1 attempt: connection refused by http://127.0.0.1:9/v1")


def test_a_dropped_connection_is_named(openai_env: dict[str, str], server: LoopbackServer) -> None:
    server.inject("drop")
    outcome = run_calls(BackendOptions(max_attempts=1), "openai/echo", calls=1)[0]
    assert isinstance(outcome, ModelCallError) and str(outcome).endswith("gave up after 1 attempt: connection dropped")


@pytest.mark.parametrize("rps", ["-1", "0", "nan", "inf"])
def test_a_rate_that_is_not_positive_is_refused(workdir: Path, rps: str) -> None:
    with pytest.raises(UserError, match="rps must be a positive number"):
        create_backend(f"openai/x?rps={rps}&base_url=http://127.0.0.1:9/v1", BackendOptions())


def test_a_negative_rate_is_one_line_on_the_command_line(workdir: Path) -> None:
    spec = "openai/x?rps=-1&base_url=http://127.0.0.1:9/v1"
    result = oversight_in_process("run", "debate", "--model", spec)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"oversight: error: model spec {spec!r}: rps must be a positive number, not -1"
    ]


# retries: counted, summed up in one line, detailed only with --verbose


def _faulty_run(server: LoopbackServer, *flags: str) -> list[str]:
    server.inject("429", "429", "503")  # Retry-After: 0 for the 429s
    result = oversight(*flags, "run", "debate", "--model", "openai/debater", "--judge", "openai/judge", "--limit", "1",
                       "--rounds", "1", "--out", f"run{len(flags)}", "--no-cache")
    assert result.returncode == 0, result.stderr
    return result.stderr.splitlines()


def test_retries_are_counted_and_summed_up_in_one_line(openai_env: dict[str, str], server: LoopbackServer) -> None:
    lines = _faulty_run(server)
    assert not [line for line in lines if "attempt" in line]
    assert lines[-1] == "oversight: 3 retries of model calls (2 × HTTP 429, 1 × HTTP 503)"
    assert ", 3 retries," in lines[-2]  # the progress line


def test_verbose_shows_every_retry(openai_env: dict[str, str], server: LoopbackServer) -> None:
    lines = _faulty_run(server, "--verbose")
    assert len([line for line in lines if "failed (HTTP 429: " in line or "failed (HTTP 503: " in line]) == 3
    assert lines[-1].startswith("oversight: 3 retries")


# the same policy in the local backend


class _Tokenizer:
    def apply_chat_template(self, messages: list[dict[str, str]], **_: Any) -> dict[str, list[int]]:
        return {"input_ids": [1, 2, 3]}


def local_calls(folder: Path, failures: list[Exception], calls: int) -> tuple[Any, list[int], list[Any]]:
    """``calls`` concurrent calls to the transformers backend, with the retries every backend gets, and a stand-in
    model whose batches raise ``failures`` first; the backend, the size of each batch, and each call's completion
    or error."""
    if missing := [m for m in ("torch", "transformers", "gguf", "accelerate") if importlib.util.find_spec(m) is None]:
        pytest.skip(f"the local backend needs {', '.join(missing)}")
    from oversight.models.local import LocalBackend

    batches: list[int] = []

    class StandIn(LocalBackend):
        def _load(self) -> None:
            self._model, self._tokenizer = object(), _Tokenizer()

        def _generate(self, jobs: list[Any]) -> list[Completion]:
            batches.append(len(jobs))
            if failures:
                raise failures.pop(0)
            return [Completion(text="fits") for _ in jobs]

    async def go() -> tuple[Any, list[Any]]:
        local = StandIn(ModelSpec.parse(f"local/{folder}"), BackendOptions(max_connections=8, backoff=0.01))
        backend = ReliableBackend(local)
        try:
            calls_ = (backend.complete(HELLO, GenerationSettings(), i) for i in range(calls))
            return local, await asyncio.gather(*calls_, return_exceptions=True)
        finally:
            await backend.aclose()

    backend, outcomes = asyncio.run(go())
    return backend, batches, outcomes


def test_local_out_of_memory_is_retried_in_smaller_batches(tmp_path: Path) -> None:
    oom = RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    backend, batches, outcomes = local_calls(tmp_path, [oom], calls=8)
    assert [getattr(o, "text", o) for o in outcomes] == ["fits"] * 8
    assert backend.max_batch == max(1, batches[0] // 2) and max(batches[1:]) <= backend.max_batch
    assert backend.options.retries.reasons == {"out of memory": batches[0]}


def test_local_failures_other_than_memory_are_not_retried(tmp_path: Path) -> None:
    backend, batches, outcomes = local_calls(tmp_path, [ValueError("bad logits")], calls=1)
    assert isinstance(outcomes[0], ModelCallError)
    assert str(outcomes[0]).endswith("generation failed: ValueError: bad logits")
    assert batches == [1] and backend.max_batch == 8
    assert not backend.options.retries.reasons
