"""Every backend gets the same retries, timeouts and fatal stops: faults injected into the one ``send`` of real
``scripted``, ``local`` (transformers) and ``llamacpp`` backends, and played back by the loopback HTTP server for
``openai``. Retries wait through a recorder that returns at once, so nothing here sleeps."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from oversight.errors import FatalRunError
from oversight.loopback import LoopbackServer
from oversight.models import (
    BackendOptions,
    ChatMessage,
    Completion,
    GenerationSettings,
    ModelCallError,
    ReliableBackend,
    Request,
    create_backend,
)
from oversight.models.cache import default_cache_path
from oversight.models.scripted import ScriptedBackend
from oversight.runner import RunConfig, execute
from oversight.weights import MODELS_DIR_ENV, models_dir

from .conftest import hub_offline

QUESTION = [ChatMessage(role="user", content="What is 2+2? Reply with the number only.")]
SHORT = GenerationSettings(max_tokens=8)
ATTEMPTS = 3


class Waits:
    """Stands in for ``asyncio.sleep`` between attempts: records each delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@dataclass
class Subject:
    """A real backend as the model pool makes it, with the recorder its retries wait through."""

    backend: ReliableBackend
    waits: Waits

    @property
    def retries(self) -> Counter[str]:
        """The retries counted so far in the run's statistics, by reason."""
        return Counter(self.backend.backend.options.retries.reasons)


def make_subject(spec: str) -> Subject:
    """The backend ``spec`` names, made as the model pool makes it, allowed ``ATTEMPTS`` attempts per call."""
    waits = Waits()
    options = BackendOptions(max_connections=4, max_attempts=ATTEMPTS, backoff=1.0, sleep=waits)
    return Subject(create_backend(spec, options), waits)


def ask(loop: asyncio.AbstractEventLoop, subject: Subject) -> Completion:
    """One short call through the backend, as a game makes it."""
    return loop.run_until_complete(subject.backend.complete(QUESTION, SHORT, 0))


@pytest.fixture(scope="module")
def scripted(loop: asyncio.AbstractEventLoop) -> Iterator[Subject]:
    """A scripted policy that repeats the question."""
    subject = make_subject("scripted/echo")
    yield subject
    loop.run_until_complete(subject.backend.aclose())


@pytest.fixture(scope="module")
def local(loop: asyncio.AbstractEventLoop) -> Iterator[Subject]:
    """SmolLM2-135M under transformers, loaded once for the module."""
    for module in ("torch", "transformers", "gguf", "accelerate"):
        pytest.importorskip(module, reason="the local backend needs torch, transformers, gguf and accelerate")
    with hub_offline():
        subject = make_subject("local/smollm2-135m")
        yield subject
        loop.run_until_complete(subject.backend.aclose())


@pytest.fixture(scope="module")
def llamacpp(loop: asyncio.AbstractEventLoop) -> Iterator[Subject]:
    """SmolLM2-135M under llama.cpp's server, started once for the module."""
    pytest.importorskip("xllamacpp", reason="the llamacpp backend needs xllamacpp")
    subject = make_subject("llamacpp/smollm2-135m")
    yield subject
    loop.run_until_complete(subject.backend.aclose())


def fail_first(subject: Subject, monkeypatch: pytest.MonkeyPatch, *errors: BaseException) -> list[Request]:
    """Make the backend's own ``send`` raise ``errors``, one per attempt, and then send as it does; returns the
    requests it was given."""
    inner = subject.backend.backend
    real = inner.send
    pending = list(errors)
    sent: list[Request] = []

    async def send(request: Request) -> Completion:
        sent.append(request)
        if pending:
            raise pending.pop(0)
        return await real(request)

    monkeypatch.setattr(inner, "send", send)
    return sent


def _http_error(status: int, message: str) -> Exception:
    """The error the SDK raises for a reply with ``status``, as the llama.cpp server would send it."""
    import httpx2
    import openai

    response = httpx2.Response(status, request=httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions"))
    return openai.APIStatusError(message, response=response, body=None)


def _transient(name: str) -> tuple[BaseException, str]:
    """A failure each backend meets for real and may get past on another attempt, and what it is counted as."""
    if name == "local":
        return RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "out of memory"
    if name == "llamacpp":
        return _http_error(503, "server busy"), "HTTP 503"
    return TimeoutError("no reply"), "timed out"


BACKENDS = ["scripted", "local", "llamacpp"]


@pytest.mark.parametrize("name", BACKENDS)
def test_a_transient_failure_is_retried_with_growing_waits_and_counted(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, name: str
) -> None:
    subject: Subject = request.getfixturevalue(name)
    clean = ask(loop, subject)
    error, reason = _transient(name)
    retries, waited = subject.retries, len(subject.waits.delays)
    sent = fail_first(subject, monkeypatch, error, error)
    assert ask(loop, subject).text == clean.text  # the answer it would have had without the faults
    assert len(sent) == 3
    assert subject.retries - retries == Counter({reason: 2})
    first, second = subject.waits.delays[waited:]
    assert 1.0 <= first < second  # exponential backoff from --backoff 1.0, with jitter


@pytest.mark.parametrize("name", BACKENDS)
def test_a_failure_that_persists_fails_the_call_after_the_last_attempt(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, name: str
) -> None:
    subject: Subject = request.getfixturevalue(name)
    error, reason = _transient(name)
    retries = subject.retries
    sent = fail_first(subject, monkeypatch, *[error] * ATTEMPTS)
    where = re.escape(subject.backend.spec.raw)
    with pytest.raises(ModelCallError, match=f"^{where}.*: gave up after {ATTEMPTS} attempts: "):
        ask(loop, subject)
    assert len(sent) == ATTEMPTS
    assert subject.retries - retries == Counter({reason: ATTEMPTS - 1})


@pytest.mark.parametrize("name", BACKENDS)
def test_a_request_the_backend_cannot_serve_fails_at_once(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, name: str
) -> None:
    subject: Subject = request.getfixturevalue(name)
    retries, waited = subject.retries, len(subject.waits.delays)
    sent = fail_first(subject, monkeypatch, ValueError("bad logits"))
    with pytest.raises(ModelCallError, match="ValueError: bad logits"):
        ask(loop, subject)
    assert len(sent) == 1
    assert subject.retries == retries and len(subject.waits.delays) == waited


def test_an_unknown_model_on_the_llamacpp_server_stops_the_run(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch, llamacpp: Subject
) -> None:
    retries = llamacpp.retries
    sent = fail_first(llamacpp, monkeypatch, _http_error(404, "model not found"))
    with pytest.raises(FatalRunError, match=r"llamacpp/smollm2-135m at http://127\.0\.0\.1:\d+/v1: not found \(HTTP 404\)"):
        ask(loop, llamacpp)
    assert len(sent) == 1 and llamacpp.retries == retries


@pytest.mark.parametrize(("fault", "message"), [("401", "rejected the API key"), ("404", "not found")])
def test_a_rejected_key_or_unknown_model_stops_the_run_without_a_retry(
    openai_env: dict[str, str], server: LoopbackServer, fault: str, message: str
) -> None:
    subject = make_subject("openai/echo")

    async def go() -> None:
        try:
            await subject.backend.complete(QUESTION, SHORT, 0)
        finally:
            await subject.backend.aclose()

    server.inject(fault)
    with pytest.raises(FatalRunError, match=message):
        asyncio.run(go())
    assert server.state.chat_requests == 1
    assert not subject.retries and not subject.waits.delays


@pytest.mark.parametrize(("header", "wait"), [("7", 7.0), ("600", 60.0)])
def test_the_wait_is_the_one_retry_after_asks_for_up_to_a_minute(
    openai_env: dict[str, str], server: LoopbackServer, header: str, wait: float
) -> None:
    subject = make_subject("openai/echo")

    async def go() -> Completion:
        try:
            return await subject.backend.complete(QUESTION, SHORT, 0)
        finally:
            await subject.backend.aclose()

    server.state.retry_after = header
    server.inject("429")
    assert asyncio.run(go()).text == QUESTION[0].content
    assert subject.waits.delays == [wait]
    assert subject.retries == Counter({"HTTP 429": 1})


def test_an_in_process_call_that_hangs_times_out_and_is_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    subject = make_subject("scripted/echo?timeout=0.05")
    inner = subject.backend.backend
    real = inner.send
    calls = 0

    async def hang_once(request: Request) -> Completion:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()  # never set: only the timeout ends this attempt
        return await real(request)

    monkeypatch.setattr(inner, "send", hang_once)
    assert asyncio.run(subject.backend.complete(QUESTION, SHORT, 0)).text == QUESTION[0].content
    assert calls == 2
    assert subject.retries == Counter({"timed out": 1})


def test_a_judge_that_keeps_failing_fails_its_games_and_the_run_goes_on(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[BackendOptions] = []

    def options(**settings: Any) -> BackendOptions:
        """The run's options as the run sets them, with retries that wait through a recorder; kept to read."""
        made.append(BackendOptions(**{**settings, "backoff": 1.0, "sleep": Waits()}))
        return made[-1]

    real = ScriptedBackend.send

    async def send(self: ScriptedBackend, request: Request) -> Completion:
        if self.spec.name == "judge":
            raise TimeoutError("no reply")
        return await real(self, request)

    monkeypatch.setattr("oversight.runner.BackendOptions", options)
    monkeypatch.setattr(ScriptedBackend, "send", send)
    config = RunConfig(protocol="debate", limit=2, model="scripted/debater", judge="scripted/judge", max_attempts=2,
                       options={"rounds": 1}, out=workdir / "run")
    result = asyncio.run(execute(config, ["test"]))
    records = result.folder.records()
    assert result.status == "failed"
    assert len(records) == 4 and all(r.status == "failed" for r in records)
    assert all("scripted/judge: gave up after 2 attempts: TimeoutError: no reply" in (r.error or "") for r in records)
    assert all(r.turns for r in records)  # the debaters' turns are kept
    assert made[0].retries.reasons == Counter({"timed out": 4})


def test_the_response_cache_and_the_model_files_share_one_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OVERSIGHT_CACHE_DIR", raising=False)
    monkeypatch.delenv(MODELS_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "oversight" / "responses.sqlite"
    assert models_dir() == tmp_path / "xdg" / "oversight" / "models"

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_path().parent == models_dir().parent == tmp_path / "home" / ".cache" / "oversight"

    monkeypatch.setenv("OVERSIGHT_CACHE_DIR", str(tmp_path / "responses"))
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path / "weights"))
    assert default_cache_path() == tmp_path / "responses" / "responses.sqlite"
    assert models_dir() == tmp_path / "weights"
