"""Prompt tokens computed versus reused from a backend's prompt cache: per call, and summed in ``summary.json``.

llama.cpp's reply says it (``timings.cache_n``, ``usage.prompt_tokens_details.cached_tokens``), as do OpenAI and vLLM
(``cached_tokens``); the transformers backend says how much it took from its store of recent prompts' key/values
(``?prefix_cache=0``: none); scripted policies do not say. A call the response cache answers sent nothing and reuses nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from oversight.loopback import LoopbackServer, build_app
from oversight.models import create_backend
from oversight.models.base import BackendOptions, ChatMessage, GenerationSettings, Usage
from oversight.records import ModelCall, RunSummary, UsageTotals
from oversight.runner import RunConfig, execute
from oversight.show import usage_sheet
from oversight.tasks import load_task

from .conftest import API_KEY, hub_offline

QUESTIONS = ("Who is mentioned first in these stories?", "Which story is the shortest?")
ONE_TOKEN = GenerationSettings(max_tokens=1)


def _shared_prefix_prompts() -> list[list[ChatMessage]]:
    """Two prompts that share a passage of several hundred tokens and differ only in the question after it."""
    passage = "\n\n".join(item.passage or "" for item in load_task("mini-stories").items[:4])
    system = ChatMessage(role="system", content="You answer questions about the stories you are given.")
    return [[system, ChatMessage(role="user", content=f"{passage}\n\nQuestion: {q}")] for q in QUESTIONS]


def _two_calls(spec: str, **options: Any) -> list[Usage]:
    async def go() -> list[Usage]:
        backend = create_backend(spec, BackendOptions(**options))
        try:
            return [(await backend.complete(messages, ONE_TOKEN, 0)).usage for messages in _shared_prefix_prompts()]
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_the_second_call_of_a_game_reuses_the_shared_prefix_on_llamacpp() -> None:
    pytest.importorskip("xllamacpp", reason="the llamacpp backend needs xllamacpp")
    first, second = _two_calls("llamacpp/smollm2-135m", max_connections=4)
    assert first.prompt_tokens >= 400 and first.cached_prompt_tokens is not None
    # the two prompts differ only after the passage: nearly all of the first prompt is the second's prefix
    assert second.cached_prompt_tokens is not None and second.cached_prompt_tokens >= 0.8 * first.prompt_tokens
    assert second.computed_prompt_tokens is not None and second.computed_prompt_tokens < 0.2 * second.prompt_tokens
    assert second.computed_prompt_tokens + second.cached_prompt_tokens == second.prompt_tokens


@pytest.mark.parametrize("setting", ["", "?prefix_cache=0"])
def test_the_transformers_backend_reuses_the_shared_prefix_unless_told_not_to(setting: str) -> None:
    pytest.importorskip("torch", reason="the local backend needs torch")
    pytest.importorskip("transformers", reason="the local backend needs transformers")
    with hub_offline():
        first, second = _two_calls(f"local/smollm2-135m{setting}", max_connections=1)
    assert first.prompt_tokens >= 400
    assert first.cached_prompt_tokens == 0 and first.computed_prompt_tokens == first.prompt_tokens
    if setting:
        assert second.cached_prompt_tokens == 0 and second.computed_prompt_tokens == second.prompt_tokens
        return
    assert second.cached_prompt_tokens is not None and second.cached_prompt_tokens >= 0.8 * first.prompt_tokens
    assert second.computed_prompt_tokens is not None and second.computed_prompt_tokens < 0.2 * second.prompt_tokens
    assert second.computed_prompt_tokens + second.cached_prompt_tokens == second.prompt_tokens


class ReportingServer(LoopbackServer):
    """The loopback server, with what a prompt-caching server adds to each reply: ``cached_tokens`` (half the
    prompt, rounded down) and llama.cpp's ``timings``, or only the ``timings`` of an older llama.cpp."""

    def __init__(self, details: bool = True, **kwargs: Any) -> None:
        super().__init__(api_key=API_KEY, **kwargs)
        self.details = details

    async def _start(self) -> int:
        @web.middleware
        async def report_reuse(request: web.Request, handler: Any) -> web.StreamResponse:
            response = await handler(request)
            if not request.path.endswith("/chat/completions") or not isinstance(response, web.Response):
                return response
            if response.status != 200 or response.body is None:
                return response
            body = json.loads(response.body)  # type: ignore[arg-type]
            usage = body["usage"]
            cached = usage["prompt_tokens"] // 2
            if self.details:
                usage["prompt_tokens_details"] = {"cached_tokens": cached}
            body["timings"] = {"prompt_n": usage["prompt_tokens"] - cached, "prompt_ms": 1.0}
            return web.json_response(body)

        app = build_app(self.state)
        app.middlewares.append(report_reuse)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


@pytest.fixture
def reporting(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ReportingServer]:
    with ReportingServer() as server:
        monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
        yield server


@pytest.mark.parametrize("details", [True, False], ids=["cached_tokens", "timings only"])
def test_the_openai_backend_reads_what_the_server_says_it_reused(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, details: bool
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    with ReportingServer(details=details) as server:
        first, _ = _two_calls(f"openai/echo?base_url={server.url}", max_attempts=1)
    assert first.prompt_tokens > 0
    assert first.cached_prompt_tokens == first.prompt_tokens // 2
    assert first.computed_prompt_tokens == first.prompt_tokens - first.prompt_tokens // 2


def test_a_server_that_says_nothing_of_reuse_reports_none(openai_env: dict[str, str]) -> None:
    first, _ = _two_calls("openai/echo", max_attempts=1)
    assert first.prompt_tokens > 0 and first.cached_prompt_tokens is None and first.computed_prompt_tokens is None


def test_sums_keep_not_reported_apart_from_none_reused() -> None:
    told = Usage(prompt_tokens=100, completion_tokens=5, cached_prompt_tokens=80)
    untold = Usage(prompt_tokens=50, completion_tokens=5)
    assert (told + told).cached_prompt_tokens == 160 and (Usage() + told).computed_prompt_tokens == 20
    assert (told + untold).cached_prompt_tokens is None and (told + untold).prompt_tokens == 150
    totals = UsageTotals()
    for call in (
        ModelCall(role="r", model="m", usage=told),
        ModelCall(role="r", model="m", usage=untold),
        ModelCall(role="r", model="m", usage=told, cached=True),  # replayed: its stored reuse was another call's
    ):
        totals.add(call)
    assert ModelCall(role="r", model="m", usage=told, cached=True).usage.cached_prompt_tokens is None
    assert (totals.calls, totals.cached_calls, totals.prompt_tokens) == (3, 1, 250)
    assert (totals.reuse_reported_calls, totals.cached_prompt_tokens, totals.computed_prompt_tokens) == (1, 80, 20)


def _debate(out: Path, roles: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    config = RunConfig(protocol="debate", limit=1, roles=roles, judge=["scripted/auto"], options={"rounds": 1}, out=out)
    result = asyncio.run(execute(config, ["test"]))
    assert result.status == "complete"
    summary = json.loads((out / "summary.json").read_text())
    records = [json.loads(line) for line in (out / "transcripts.jsonl").read_text().splitlines()]
    return summary, records


def test_summary_sums_reuse_per_role_and_model_and_replays_reuse_nothing(
    workdir: Path, reporting: ReportingServer
) -> None:
    debater = f"openai/debater?base_url={reporting.url}"
    roles = {"debater_a": debater, "debater_b": debater}
    summary, records = _debate(workdir / "run", roles)
    calls = [call for record in records for call in record["calls"]]
    debater_calls = [call for call in calls if call["model"] == debater]
    assert debater_calls and all(call["usage"]["cached_prompt_tokens"] is not None for call in debater_calls)
    told = summary["usage_by_model"][debater]
    prompt = sum(call["usage"]["prompt_tokens"] for call in debater_calls)
    cached = sum(call["usage"]["prompt_tokens"] // 2 for call in debater_calls)
    assert told["calls"] == told["reuse_reported_calls"] == len(debater_calls)
    assert (told["cached_prompt_tokens"], told["computed_prompt_tokens"]) == (cached, prompt - cached)
    roles_told = [summary["usage_by_role"][role] for role in ("debater_a", "debater_b")]
    assert sum(r["cached_prompt_tokens"] for r in roles_told) == cached
    # the scripted judge does not say: counted as not reported, not as "nothing reused"
    judge = summary["usage_by_model"]["scripted/auto"]
    assert judge["calls"] > 0 and judge["prompt_tokens"] > 0
    assert (judge["reuse_reported_calls"], judge["cached_prompt_tokens"], judge["computed_prompt_tokens"]) == (0, 0, 0)
    # oversight show's usage table gives the reused tokens per role, and "-" for a role whose backend did not say
    sheet = usage_sheet(RunSummary.model_validate(summary))
    reused = {row[0]: row[sheet.columns.index("reused by the backend")] for row in sheet.rows}
    assert reused["judge"] == "-"
    assert reused["debater_a"] == str(summary["usage_by_role"]["debater_a"]["cached_prompt_tokens"])

    # the same games again: every call is answered by the response cache, which sends nothing and reuses nothing
    again, replayed = _debate(workdir / "again", roles)
    told_again = again["usage_by_model"][debater]
    assert told_again["calls"] == told_again["cached_calls"] == len(debater_calls)
    assert told_again["prompt_tokens"] == prompt
    assert (told_again["reuse_reported_calls"], told_again["cached_prompt_tokens"]) == (0, 0)
    assert all(call["usage"]["cached_prompt_tokens"] is None for record in replayed for call in record["calls"])
