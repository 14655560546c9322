"""People judging stored debates in a real browser: ``oversight judge RUN --judge web`` end to end.

Two judges open the pages in headless Chromium (the system's), one by invite link and one by name; they judge by
clicking; one stops midway, the command itself is interrupted and run again (the links stay valid), both finish,
the command exits 0, and the new run's summary scores exactly the verdicts clicked against the stored answers.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from oversight.runfolder import RunFolder
from tests.web_session import Browser, Command, Page, chromium, scripted_env, store_debates


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A stored debate run of the scripted debaters (6 games), and the environment to run commands in."""
    env = scripted_env(tmp_path)
    store_debates(tmp_path, env)
    return tmp_path, env


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Headless Chromium (the system's)."""
    with chromium() as launched:
        yield launched


def _judge_one(page: Page, answers: dict[str, int], clicked: dict[str, bool], right: bool, level: str) -> None:
    """Click an answer on the game page shown: the stored correct one or not, as ``right`` says."""
    game = page.input_value("input[name=game]")
    pick = answers[game] if right else 1 - answers[game]
    page.click(f'button[data-answer="{"AB"[pick]}"]:has-text("{level}")')
    clicked[game] = right


def test_two_judges_judge_stored_debates_in_the_browser(stored: tuple[Path, dict[str, str]], browser: Browser) -> None:
    where, env = stored
    answers = {r.game_id: int(r.answer) for r in RunFolder(where / "stored").records()}
    args = ["judge", "stored", "--judge", "web", "--judges", "2", "--per-judge", "3", "--port", "0"]
    clicked: dict[str, bool] = {}

    with Command(args, where, env) as command:
        url, links = command.invites(2)
        assert all(link.startswith(f"{url}/join/") for link in links) and len(set(links)) == 2

        # Ada opens her invite link, names herself and judges her first game
        ada = browser.new_context()
        page = ada.new_page()
        page.goto(links[0])
        assert page.input_value("input[name=name]") == "judge 1"
        page.fill("input[name=name]", "Ada")
        page.click("text=Start judging")
        assert page.inner_text(".progress").startswith("Game 1 of 3")
        assert "judging as Ada" in page.inner_text("nav")
        assert page.locator("mark.q-verified").count() > 0  # quotes are marked
        _judge_one(page, answers, clicked, right=True, level="85%")
        assert page.inner_text(".progress").startswith("Game 2 of 3")

        # Grace signs in by name instead: she takes the free place, under a new link; the printed one is retired
        grace = browser.new_context()
        page2 = grace.new_page()
        page2.goto(url + "/")
        page2.fill("input[name=name]", "Grace")
        page2.click("text=Start judging")
        assert page2.inner_text(".progress").startswith("Game 1 of 3")
        _judge_one(page2, answers, clicked, right=False, level="55%")
        # she stops for now; the page gives her the link to come back with
        page2.click("text=stop for now")
        comeback = page2.inner_text("code.link")
        assert comeback.startswith(f"{url}/join/") and comeback not in links
        grace.close()
        assert browser.new_page().goto(links[1]).status == 404

        # the command is stopped (Ctrl-C): the two verdicts given are recorded; running it again resumes
        command.proc.send_signal(signal.SIGINT)
        assert command.finish() == 130
        judged_dir = next(p for p in where.iterdir() if p.name.startswith("stored-judged-"))
        assert len(RunFolder(judged_dir).records()) == 2

    with Command(args, where, env) as command:
        url, again = command.invites(2)
        assert again[0].rsplit("/", 1)[1] == links[0].rsplit("/", 1)[1]  # the same tokens, on the new port
        assert again[1].rsplit("/", 1)[1] == comeback.rsplit("/", 1)[1]

        # Ada's browser still knows her: she goes on where she was, and finishes
        page.goto(url + "/judge")
        assert page.inner_text(".progress").startswith("Game 2 of 3")
        _judge_one(page, answers, clicked, right=False, level="70%")
        _judge_one(page, answers, clicked, right=True, level="99%")
        assert "All 3 of your games are judged" in page.inner_text("main")

        # Grace comes back with her link in a fresh browser and finishes; her last verdict ends the session
        grace = browser.new_context()
        page2 = grace.new_page()
        page2.goto(url + "/join/" + comeback.rsplit("/", 1)[1])
        assert page2.inner_text(".progress").startswith("Game 2 of 3")
        _judge_one(page2, answers, clicked, right=True, level="85%")
        _judge_one(page2, answers, clicked, right=True, level="85%")
        assert "All 3 of your games are judged" in page2.inner_text("main")
        assert command.finish() == 0, "".join(command.stderr)

    # every game judged once, each by the judge it was shown to, scored against the stored answer
    records = RunFolder(judged_dir).records()
    assert sorted(r.meta["source_game"] for r in records) == sorted(clicked)
    assert {r.meta["source_game"]: r.correct for r in records} == clicked
    by_judge: dict[str, set[str]] = {}
    for record in records:
        judged = record.meta["web_judging"]
        assert record.roles["judge"] == f"web:{judged['judge']}"
        assert judged["seconds"] >= 0 and judged["shown"] >= 1
        assert record.verdict is not None and record.verdict.source == "human"
        by_judge.setdefault(judged["judge"], set()).add(record.item_id)
    assert {name: len(items) for name, items in by_judge.items()} == {"Ada": 3, "Grace": 3}  # no item twice
    summary = json.loads((judged_dir / "summary.json").read_text())
    assert summary["complete"] == 6
    assert summary["accuracy"] == pytest.approx(sum(clicked.values()) / 6)  # 4 of 6 clicked right
    assert sum(clicked.values()) == 4
    # the log names judges, never their tokens
    log = (judged_dir / "transcripts.jsonl").read_text()
    assert not any(link.rsplit("/", 1)[1] in log for link in [*links, comeback])


def test_the_command_starts_without_the_web_libraries() -> None:
    """Only the commands that serve pages load the server: ``--help`` and every other command start without it."""
    code = "import sys, oversight.cli; print(sorted({m.split('.')[0] for m in sys.modules} & {'starlette', 'uvicorn', 'playwright'}))"
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]"
