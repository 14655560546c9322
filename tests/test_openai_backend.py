"""The openai backend against a real OpenAI-compatible server over real HTTP, with injected faults."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from oversight.errors import FatalRunError, UserError
from oversight.loopback import LoopbackServer
from oversight.models import BackendOptions, ChatMessage, GenerationSettings, ModelCallError, create_backend
from oversight.protocol import ProtocolOptions
from oversight.runner import RunConfig, execute

from .conftest import API_KEY, oversight

HELLO = [ChatMessage(role="user", content="hello there")]


def complete(spec: str, settings: GenerationSettings | None = None, attempts: int = 4, timeout: float = 10.0):
    async def go():
        backend = create_backend(spec, BackendOptions(max_attempts=attempts, timeout=timeout, backoff=0.05))
        try:
            return await backend.complete(HELLO, settings or GenerationSettings(), 0)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_plain_completion_reports_text_and_usage(openai_env: dict[str, str]) -> None:
    completion = complete("openai/echo")
    assert completion.text == "hello there"
    assert completion.usage.prompt_tokens == 2 and completion.usage.completion_tokens == 2


@pytest.mark.parametrize("fault", ["500", "503", "garbage", "empty"])
def test_transient_faults_are_retried(openai_env: dict[str, str], server: LoopbackServer, fault: str) -> None:
    server.inject(fault, fault)
    assert complete("openai/echo").text == "hello there"
    assert server.state.chat_requests == 3


def test_429_retry_after_is_honoured(
    openai_env: dict[str, str], server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.state.retry_after = "0.3"
    server.inject("429")
    with caplog.at_level(logging.INFO, logger="oversight.models.retry"):  # each retry's detail: --verbose
        assert complete("openai/echo").text == "hello there"
    assert "HTTP 429" in caplog.text
    assert "retrying in 0.30s" in caplog.text


def test_a_hung_request_times_out_and_is_retried(openai_env: dict[str, str], server: LoopbackServer) -> None:
    server.inject("hang")
    assert complete("openai/echo", timeout=0.5).text == "hello there"
    assert server.state.chat_requests == 2


def test_persistent_failure_gives_up_after_bounded_attempts(openai_env: dict[str, str], server: LoopbackServer) -> None:
    server.inject("500", "500", "500")
    with pytest.raises(ModelCallError, match="gave up after 3 attempts: HTTP 500"):
        complete("openai/echo", attempts=3)
    assert server.state.chat_requests == 3


@pytest.mark.parametrize(("fault", "error", "message"), [
    ("401", FatalRunError, "rejected the API key"),
    ("404", FatalRunError, "not found"),
    ("400", ModelCallError, "request rejected"),
])
def test_client_errors_fail_fast(
    openai_env: dict[str, str], server: LoopbackServer, fault: str, error: type, message: str
) -> None:
    server.inject(fault)
    with pytest.raises(error, match=message):
        complete("openai/echo")
    assert server.state.chat_requests == 1


def test_logprobs_are_returned(openai_env: dict[str, str]) -> None:
    prompt_settings = GenerationSettings(logprobs=True, top_logprobs=5, max_tokens=10)
    completion = complete("openai/judge", prompt_settings)
    assert completion.text.startswith("Answer: ")
    assert completion.logprobs and any(t.top_logprobs for t in completion.logprobs)


def test_requests_spread_across_replicas(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with LoopbackServer() as first, LoopbackServer() as second:
        spec = f"openai/debater?base_url={first.url},{second.url}"
        judge = f"openai/judge?base_url={first.url},{second.url}"
        config = RunConfig(
            protocol="debate", limit=4, model=spec, judge=judge, options=ProtocolOptions(rounds=1), out=workdir / "run"
        )
        result = asyncio.run(execute(config, ["test"]))
    assert result.summary.complete == 8
    assert first.state.chat_requests > 0 and second.state.chat_requests > 0
    assert first.state.chat_requests + second.state.chat_requests == 8 * 3


def test_keys_are_refused_inside_specs(workdir: Path) -> None:
    with pytest.raises(UserError) as info:
        create_backend("openai/gpt-4o?api_key=sk-abcdef123456", BackendOptions())
    assert "sk-abcdef123456" not in str(info.value)


def test_missing_key_for_the_hosted_api_is_a_clear_error(workdir: Path) -> None:
    with pytest.raises(UserError, match="OPENAI_API_KEY is not set"):
        create_backend("openai/gpt-4o-mini", BackendOptions())


def test_a_wrong_key_is_rejected(workdir: Path, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-000000")
    with pytest.raises(FatalRunError, match="HTTP 401"):
        complete("openai/echo")
    assert API_KEY not in server.state.authorizations


def test_endpoint_and_key_come_from_a_dot_env_file(workdir: Path, server: LoopbackServer) -> None:
    (workdir / ".env").write_text(f"OPENAI_BASE_URL={server.url}\nOPENAI_API_KEY={API_KEY}\n")
    result = oversight("run", "debate", "--limit", "1", "--rounds", "1", "--model", "openai/debater",
                       "--judge", "openai/judge", "--out", "run")
    assert result.returncode == 0, result.stderr
    assert server.state.authorizations == {f"Bearer {API_KEY}"}
