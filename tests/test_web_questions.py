"""A person judging a stored ``interactive-debate`` game questions its debaters in the browser.

The debaters' answers come from the stored run's models, through the judging run's pool: one more round after
the game's last, with quotes checked as in any round. The page shows the question (as text) and the answers
(with their quote marks); the written record keeps them and their calls. Games whose protocol takes no questions
show no box, and refuse a question (``tests/test_web_security.py`` checks that over a debate session).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import cast
from urllib.parse import quote

import httpx
import pytest

from oversight.judges import LLMJudge
from oversight.judges.base import JudgeView
from oversight.judges.web import MAX_QUESTION_CHARS, MAX_QUESTIONS, JudgingDesk
from oversight.models.base import BackendOptions, ChatMessage, Completion, GenerationSettings
from oversight.models.pool import ModelPool
from oversight.policies import POLICIES
from oversight.policies.generic import auto
from oversight.prompts import PromptLibrary
from oversight.protocol import PROTOCOLS, GameContext, Protocol
from oversight.records import GameRecord, utc_now
from oversight.runfolder import RunFolder
from oversight.runner import make_protocol
from oversight.tasks import TaskItem, load_task
from oversight.web.app import create_app
from oversight.web.judging import JUDGE_COOKIE, JudgingSession
from oversight.web.planning import WebJudgingPlan
from oversight.web.sessions import JudgePanel, JudgePlace, new_token
from tests.web_session import Browser, Command, chromium, scripted_env, store_debates

#: a sentence of the first mini-stories passage: a debater that always quotes it gets a verified mark
SENTENCE = "The hardware shop was open that afternoon."
QUOTER = "scripted/constant?text=" + quote(f"It is so. <quote>{SENTENCE}</quote>", safe="")
#: the judge's question: markup stays text, on the page and in the record
ASKED = "Which sentence says <script>document.title='pwned'</script> where the map went?"


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Headless Chromium (the system's)."""
    with chromium() as launched:
        yield launched


def test_a_judge_questions_the_debaters_in_the_browser(tmp_path: Path, browser: Browser) -> None:
    env = scripted_env(tmp_path)
    stored = store_debates(
        tmp_path, env, f"debater_a={QUOTER}", "debater_b=scripted/liar", protocol="interactive-debate", limit=1,
        rounds=2,
    )
    passage = load_task("mini-stories", seed=0).items[0].passage or ""
    assert SENTENCE in passage
    # one item in both seatings: two games, one for each judge (no judge gets two games of one item)
    args = ["judge", "stored", "--judge", "web", "--judges", "2", "--per-judge", "1", "--port", "0"]
    asked_on: dict[str, int] = {}
    with Command(args, tmp_path, env) as command:
        url, links = command.invites(2)
        page = browser.new_context().new_page()
        page.goto(links[0])
        page.fill("input[name=name]", "Ada")
        page.click("text=Start judging")
        first = page.input_value("form.verdict input[name=game]")
        # the stored game's own question is shown as it was asked; the box comes after the game
        assert "asked when the game was played" in page.inner_text(".turns")
        assert page.locator("form.ask").count() == 1 and "3 questions left" in page.inner_text("form.ask")

        # a question without this page's CSRF token is refused, and asks nothing
        refused = page.request.post(f"{url}/question", form={"game": first, "question": "Why?"})
        assert refused.status == 403
        assert page.locator(".turn.follow-up").count() == 0

        page.fill("input[name=question]", ASKED)
        page.click("form.ask button")
        asked = page.locator(".turn.follow-up.asked")
        assert asked.count() == 1 and asked.inner_text().endswith(ASKED)
        assert page.locator("script").count() == 0 and "pwned" not in page.title()
        answers = page.locator(".turn.follow-up:not(.asked)")
        assert answers.count() == 2  # one per debater
        assert "answer to your question 1" in answers.nth(0).inner_text()
        assert answers.nth(0).locator("mark.q-verified", has_text=SENTENCE).count() == 1
        assert answers.nth(1).locator("mark.q-unverified").count() == 1
        assert "2 questions left" in page.inner_text("form.ask")
        # the judge never sees the passage beyond the verified quotes
        assert "Ines counted the chickens twice." in passage
        assert "Ines counted the chickens twice." not in page.inner_text("main")
        asked_on[first] = 1
        page.click('form.verdict button[data-answer="A"]:has-text("70%")')
        assert "All 1 of your games are judged" in page.inner_text("main")

        # the other judge asks every question the game takes; then the box is gone
        page = browser.new_context().new_page()
        page.goto(links[1])
        page.fill("input[name=name]", "Grace")
        page.click("text=Start judging")
        second = page.input_value("form.verdict input[name=game]")
        for number in range(1, MAX_QUESTIONS + 1):
            page.fill("input[name=question]", f"Question {number}?")
            page.click("form.ask button")
            assert page.locator(".turn.follow-up.asked").count() == number
        assert page.locator("form.ask").count() == 0
        assert page.locator(".turn.follow-up:not(.asked)").count() == 2 * MAX_QUESTIONS
        asked_on[second] = MAX_QUESTIONS
        page.click('form.verdict button[data-answer="B"]:has-text("85%")')
        assert "All 1 of your games are judged" in page.inner_text("main")
        assert command.finish() == 0, "".join(command.stderr)

    judged = next(p for p in tmp_path.iterdir() if p.name.startswith("stored-judged-"))
    records = {r.meta["source_game"]: r for r in RunFolder(judged).records()}
    assert set(records) == set(asked_on)
    stored_turns = {r.game_id: len(r.turns) - 1 for r in RunFolder(stored).records()}  # all but the verdict
    for game, count in asked_on.items():
        record = records[game]
        assert record.meta["web_judging"]["questions"] == count
        added = record.turns[stored_turns[game] : -1]
        assert len(added) == 3 * count and record.turns[-1].meta["kind"] == "verdict"
        for n in range(count):
            question, *answers = added[3 * n : 3 * n + 3]
            assert question.role == "judge" and question.meta["kind"] == "question" and question.round == 2 + n
            assert [a.role for a in answers] == ["debater_a", "debater_b"]
            assert all(a.round == 3 + n and a.meta["kind"] == "argument" and a.meta["follow_up"] for a in answers)
            assert [len(a.meta["quotes"]) for a in answers] == [1, 1] and not answers[1].meta["quotes"][0]["verified"]
        # each answer's call is the game's, made with the stored game's models
        calls = [(c.role, c.model) for c in record.calls]
        assert calls == [("debater_a", QUOTER), ("debater_b", "scripted/liar")] * count
    assert records[first].turns[stored_turns[first]].content == ASKED
    # the quote allowance (a quarter of the passage) is the whole game's: the stored rounds spent two quotes of
    # it, the first answer a third, and no room is left for a fourth
    verified = [a.meta["quotes"][0]["verified"] for a in records[second].turns if a.meta.get("follow_up")
                and a.role == "debater_a"]
    assert verified == [True, False, False]


def test_only_interactive_debate_takes_questions() -> None:
    takers = {name for name in PROTOCOLS.names() if PROTOCOLS.get(name).takes_questions}
    assert takers == {"interactive-debate"}


def _record(
    protocol_name: str, rounds: int, roles: dict[str, str], prompts: list[str]
) -> tuple[Protocol, TaskItem, GameRecord, ModelPool]:
    """A game of ``protocol_name`` played by scripted players that note each prompt, as a stored record."""

    def noting(
        messages: list[ChatMessage], settings: GenerationSettings, sample: int, params: dict[str, str]
    ) -> Completion:
        prompts.append("\n".join(m.content for m in messages))
        return auto(messages, settings, sample, params)

    POLICIES.add("noting", noting)
    protocol = make_protocol(protocol_name, {"rounds": rounds})
    task = load_task("mini-stories", seed=0)
    setup = next(iter(protocol.setups(task.name, task.items[:1], seed=0)))
    pool = ModelPool(BackendOptions(), cache=None)
    ctx = GameContext("debate", roles, pool, PromptLibrary(), LLMJudge(roles["judge"]))
    outcome = asyncio.run(protocol.play(setup, ctx))
    record = GameRecord(
        game_id=setup.game_id, protocol=protocol_name, task=task.name, item_id=setup.item.id, status="complete",
        roles=roles, question=setup.item.question, choices=setup.item.choices, answer=setup.item.answer,
        seating=setup.seating, turns=outcome.turns, verdict=outcome.verdict, started_at=utc_now(),
        finished_at=utc_now(),
    )
    return protocol, setup.item, record, pool


def test_the_debaters_answer_as_one_more_round_of_the_game() -> None:
    prompts: list[str] = []
    roles = {"debater_a": "scripted/noting", "debater_b": "scripted/noting", "judge": "scripted/auto"}
    protocol, item, record, pool = _record("interactive-debate", 1, roles, prompts)
    stored = protocol.rejudge_view(record, item)
    assert stored is not None
    players = GameContext("debate", {"judge": "web"}, pool, PromptLibrary()).for_roles(roles)
    prompts.clear()
    asked = asyncio.run(protocol.answer_question(record, item, stored.turns, "Where is <b>the map</b>?", players))
    question, *answers = asked
    assert question.role == "judge" and question.round == 1 and question.meta["kind"] == "question"
    assert [(a.role, a.round, a.meta["side"] in ("correct", "incorrect")) for a in answers] == [
        ("debater_a", 2, True), ("debater_b", 2, True)
    ]
    # each debater reads the game so far and the question last, as the follow-up round of a game of two rounds
    assert len(prompts) == 2
    assert all("Judge (after round 1) asks: Where is <b>the map</b>?" in p and "Round 2 of 2." in p for p in prompts)
    assert "Debater A (round 2" in prompts[1]  # in turn, as the game's rounds were played
    assert [c.role for c in players.calls] == ["debater_a", "debater_b"]
    asyncio.run(pool.aclose())


def test_a_protocol_without_questions_refuses_one() -> None:
    roles = {"debater_a": "scripted/auto", "debater_b": "scripted/auto", "judge": "scripted/auto"}
    protocol, item, record, pool = _record("debate", 1, roles, [])
    players = GameContext("debate", roles, pool, PromptLibrary())
    with pytest.raises(NotImplementedError):
        asyncio.run(protocol.answer_question(record, item, [], "Why?", players))
    asyncio.run(pool.aclose())


def _view() -> JudgeView:
    return JudgeView(protocol="p", question="q", choices=["x", "y"], labels=["A", "B"])


def test_the_clock_goes_on_while_the_debaters_answer() -> None:
    """The page shown again with the answers (or why there are none) is the same showing: the judge never left."""

    async def failing(question: str) -> JudgeView:
        raise RuntimeError("backend down")

    async def session() -> None:
        desk = JudgingDesk()
        waiting = asyncio.create_task(desk.verdict_for("g", _view(), failing))
        await desk.opened.wait()  # the game reaches the desk
        with pytest.raises(ValueError, match="not waiting"):
            await desk.ask("g", "Why?")  # not shown yet
        assert desk.show("g").questions_left == MAX_QUESTIONS
        await desk.ask("g", "Why?")
        assert desk.show("g").error is not None
        assert desk.show("g").error is None  # said once
        desk.give("g", 1, 0.85, "Ada")
        assert (await waiting).shown == 2

    asyncio.run(session())


def test_a_game_without_an_answerer_takes_no_question() -> None:
    async def session() -> None:
        desk = JudgingDesk()
        waiting = asyncio.create_task(desk.verdict_for("g", _view()))
        await desk.opened.wait()
        assert desk.show("g").questions_left == 0
        with pytest.raises(ValueError, match="no questions"):
            await desk.ask("g", "Why?")
        desk.give("g", 0, 0.55, "Ada")
        assert (await waiting).meta()["questions"] == 0

    asyncio.run(session())


def test_no_verdict_while_the_debaters_answer() -> None:
    """A verdict posted while a question is being answered (a second tab) is refused; the page then asks the judge
    to reload and read the answers first."""

    async def session() -> None:
        started, release = asyncio.Event(), asyncio.Event()

        async def slow(question: str) -> JudgeView:
            started.set()
            await release.wait()
            return _view()

        desk = JudgingDesk()
        waiting = asyncio.create_task(desk.verdict_for("g", _view(), slow))
        await desk.opened.wait()
        desk.show("g")
        asking = asyncio.create_task(desk.ask("g", "Why?"))
        await started.wait()
        assert desk.answering("g")
        with pytest.raises(ValueError):
            desk.give("g", 0, 0.55, "Ada")
        with pytest.raises(ValueError, match="still answering"):
            await desk.ask("g", "And?")
        release.set()
        await asking
        desk.give("g", 0, 0.55, "Ada")
        assert (await waiting).questions == 1

    asyncio.run(session())


def test_a_failed_answer_shows_one_line_on_the_page_and_the_verdict_goes_through() -> None:
    """The page of a game whose players fail to answer: one line says so, and the judge still judges."""

    async def failing(question: str) -> JudgeView:
        raise RuntimeError("backend down\nthe prompt, passage and all")

    async def session() -> None:
        desk = JudgingDesk()
        game = "0123456789abcdef"
        waiting = asyncio.create_task(desk.verdict_for(game, _view(), failing))
        await desk.opened.wait()  # the game reaches the desk
        place = JudgePlace(number=1, token=new_token(), name="Ada", games=[game])
        # the plan only saves the places, which this page never does
        judging = JudgingSession(JudgePanel(places=[place]), desk, cast(WebJudgingPlan, None))
        transport = httpx.ASGITransport(app=create_app(judging=judging))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8766") as client:
            client.cookies.set(JUDGE_COOKIE, place.token)
            page = await client.get("/judge")
            csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
            assert csrf is not None and 'action="/question"' in page.text
            form = {"csrf": csrf.group(1), "game": game}
            asked = await client.post("/question", data={**form, "question": "Why?"}, follow_redirects=True)
            assert asked.status_code == 200
            errors = re.findall(r'<p class="error">([^<]*)</p>', asked.text)
            assert len(errors) == 1 and "could not answer" in errors[0] and "backend down" not in asked.text
            assert "2 questions left" in asked.text
            # a question too long is refused before anyone is asked
            long = await client.post("/question", data={**form, "question": "x" * (MAX_QUESTION_CHARS + 1)})
            assert long.status_code == 400
            done = await client.post("/judge", data={**form, "answer": "1:0.85"}, follow_redirects=True)
            assert done.status_code == 200 and "All 1 of your games are judged" in done.text
        judgement = await waiting
        assert judgement.questions == 0 and judgement.meta()["question_errors"] == ["RuntimeError: backend down"]

    asyncio.run(session())
