"""Who sees what, over every registered protocol: the experiment is only meaningful if the judge never reads
the hidden passage (except in ``expert``), no role's prompt depends on which answer is correct, an open
protocol's pick stays with its chooser, and a re-judged game shows the new judge exactly the stored view."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
from collections import defaultdict
from pathlib import Path

import pytest

from oversight.judges import JudgeView, LLMJudge, Verdict
from oversight.models.base import BackendOptions, ChatMessage, Completion, GenerationSettings
from oversight.models.pool import ModelPool
from oversight.policies import POLICIES
from oversight.policies.generic import auto
from oversight.prompts import PromptLibrary
from oversight.protocol import PROTOCOLS, GameContext, GameSetup
from oversight.rejudge import plan_rejudge
from oversight.runner import Execution, RunConfig, execute, execute_plan, make_protocol
from oversight.tasks import load_task

#: role → every prompt it was sent, as one string per call
Seen = dict[str, list[str]]
_counter = itertools.count()


class Recorder:
    """A scripted policy that plays like ``scripted/auto``, records what each role was sent, and marks every
    reply with a unique canary so it can be traced into other roles' prompts."""

    def __init__(self) -> None:
        self.seen: Seen = defaultdict(list)
        #: canary → (role, whether the reply was an open protocol's pick)
        self.canaries: dict[str, tuple[str, bool]] = {}

    def __call__(self, messages: list[ChatMessage], settings: GenerationSettings, sample: int,
                 params: dict[str, str]) -> Completion:
        role = params["role"]
        prompt = "\n".join(m.content for m in messages)
        self.seen[role].append(prompt)
        reply = auto(messages, settings, sample, params)
        canary = f"canary{next(_counter)}x"
        self.canaries[canary] = (role, "<choose>" in prompt)
        return reply.model_copy(update={"text": f"{reply.text}\n{canary}"})


def _play(protocol_name: str, setups: list[GameSetup]) -> Recorder:
    recorder = Recorder()
    POLICIES.add("recorder", recorder)
    protocol = make_protocol(protocol_name, {"rounds": 2})
    roles = {role: f"scripted/recorder?role={role}" for role in protocol.roles}
    judge = LLMJudge(roles["judge"]) if protocol.uses_judge else None

    async def play_all() -> None:
        pool = ModelPool(BackendOptions(), cache=None)
        for setup in setups:
            ctx = GameContext(protocol.template_dir or protocol.name, roles, pool, PromptLibrary(), judge)
            await protocol.play(setup, ctx)
        await pool.aclose()

    asyncio.run(play_all())
    return recorder


def _setups(protocol_name: str) -> list[GameSetup]:
    protocol = make_protocol(protocol_name, {"rounds": 2})
    task = load_task(protocol.default_task, seed=0)
    return list(protocol.setups(task.name, task.items[:3], seed=0))


def _with_other_answer(setup: GameSetup) -> GameSetup:
    item = setup.item
    other = (int(item.answer) + 1) % len(item.choices) if item.choices else f"not {item.answer}"
    return dataclasses.replace(setup, item=item.model_copy(update={"answer": other}))


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OVERSIGHT_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("protocol", PROTOCOLS.names())
def test_no_prompt_depends_on_which_answer_is_correct(protocol: str) -> None:
    setups = _setups(protocol)
    as_is = _play(protocol, setups).seen
    swapped = _play(protocol, [_with_other_answer(s) for s in setups]).seen
    # canaries are numbered in call order, so only their presence is compared
    strip = lambda prompts: [re.sub(r"canary\d+x", "canary", p) for p in prompts]  # noqa: E731
    assert {r: strip(p) for r, p in as_is.items()} == {r: strip(p) for r, p in swapped.items()}


@pytest.mark.parametrize("protocol", [p for p in PROTOCOLS.names() if PROTOCOLS.get(p).uses_judge])
def test_the_judge_never_reads_the_passage_except_in_expert(protocol: str) -> None:
    setups = _setups(protocol)
    seen = _play(protocol, setups).seen
    assert seen["judge"], "the judge was never asked"
    for setup in setups:
        passage = setup.item.passage
        if not passage:
            continue
        shown = any(passage in prompt for prompt in seen["judge"])
        assert shown == (protocol == "expert"), protocol
        if protocol != "expert":
            assert not any("<passage>" in prompt for prompt in seen["judge"])


@pytest.mark.parametrize("protocol", [p for p in PROTOCOLS.names() if p.startswith("open-")])
def test_an_open_protocols_pick_stays_with_its_chooser(protocol: str) -> None:
    recorder = _play(protocol, _setups(protocol))
    picks = [c for c, (_, is_pick) in recorder.canaries.items() if is_pick]
    assert picks
    for role, prompts in recorder.seen.items():
        for canary in picks:
            assert not any(canary in prompt for prompt in prompts), f"{role} saw the pick {canary}"
    # the arguments themselves do reach the judge, so the canaries are a real trace
    argued = [c for c, (role, is_pick) in recorder.canaries.items() if role != "judge" and not is_pick]
    assert any(c in prompt for c in argued for prompt in recorder.seen["judge"])


class ViewRecorder:
    """A plug-in judge that keeps every view it was shown."""

    def __init__(self) -> None:
        self.views: list[JudgeView] = []

    def decide(self, view: JudgeView) -> Verdict:
        self.views.append(view)
        return Verdict(choice=0, raw="recorded")


def test_rejudging_shows_the_new_judge_exactly_the_stored_view(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import views_plugin  # type: ignore[import-not-found]

    monkeypatch.chdir(tmp_path)
    first = asyncio.run(execute(RunConfig(protocol="interactive-debate", limit=3, model="scripted/auto",
                                          judge=["views_plugin:FIRST"], options={"rounds": 2}, out=tmp_path / "run"),
                                ["test"]))
    assert first.status == "complete"
    plan = plan_rejudge(tmp_path / "run", ["views_plugin:AGAIN"])
    asyncio.run(execute_plan(plan, Execution(out=tmp_path / "again"), ["test"]))
    final_views = [v for v in views_plugin.FIRST.views if v.round == v.rounds]
    key = lambda v: v.model_dump_json()  # noqa: E731
    assert sorted(map(key, views_plugin.AGAIN.views)) == sorted(map(key, final_views))
    assert len(views_plugin.AGAIN.views) == 6


@pytest.fixture(autouse=True)
def _views_plugin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    plugin = tmp_path / "plugins" / "views_plugin.py"
    plugin.parent.mkdir()
    plugin.write_text(
        "from tests.test_information_flow import ViewRecorder\nFIRST = ViewRecorder()\nAGAIN = ViewRecorder()\n"
    )
    monkeypatch.syspath_prepend(str(plugin.parent))
