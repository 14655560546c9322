"""Exit codes that say how a run ended, judges that cannot decide, and stops that stop.

0: every game complete; 3: some games failed (a rerun plays them again); 4: every game failed; 2: bad input or a
condition that would fail every game; 130: stopped by Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oversight.models.base import BackendOptions
from oversight.models.pool import ModelPool
from oversight.runner import GamePlayer, RunConfig, plan

from .conftest import oversight, oversight_in_process, read_lines

#: fails on the stormy items while a file named ``down`` is in the working folder, as a judge server that is
#: down for part of a run would
FLAKY_JUDGE = '''
from pathlib import Path

from oversight.judges import Verdict


def judge(view):
    if Path("down").exists() and "storm" in view.question:
        raise ConnectionError("judge server unreachable")
    return Verdict(choice=0, raw="A")


def unreachable(view):
    raise ConnectionError("judge server unreachable")
'''

ITEMS = [
    {"id": "calm", "question": "Where did the calm boat go?", "choices": ["north", "south"], "answer": 0,
     "passage": "The calm boat went north along the coast."},
    {"id": "storm", "question": "Where did the storm boat go?", "choices": ["east", "west"], "answer": 1,
     "passage": "The storm boat went west across the bay."},
]

RUN = ("run", "debate", "--task", "boats.jsonl", "--rounds", "1", "--out", "run")


@pytest.fixture
def boats(workdir: Path) -> Path:
    (workdir / "boats.jsonl").write_text("".join(json.dumps(item) + "\n" for item in ITEMS))
    (workdir / "judges.py").write_text(FLAKY_JUDGE)
    return workdir


def _manifest(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def _last_line(text: str) -> str:
    """The run's closing status line: the last one before the commands that show the run again."""
    lines = text.strip().splitlines()
    return lines[lines.index("see it with:") - 1] if "see it with:" in lines else lines[-1]


def test_a_run_with_some_failed_games_exits_3_and_a_rerun_plays_them_again(boats: Path) -> None:
    (boats / "down").touch()
    first = oversight(*RUN, "--judge", "judges.py:judge")
    assert first.returncode == 3, first.stderr
    assert "2 of 4 games failed" in _last_line(first.stdout)
    assert "rerun the same command" in _last_line(first.stdout)
    manifest = _manifest(boats / "run")
    assert manifest["status"] == "incomplete"
    assert manifest["games"] == {"planned": 4, "complete": 2, "failed": 2, "pending": 0}
    failed = [r for r in read_lines(boats / "run" / "transcripts.jsonl") if r["status"] == "failed"]
    assert [r["item_id"] for r in failed] == ["storm", "storm"]
    assert all(r["error"] == "ConnectionError: judge server unreachable" for r in failed)

    (boats / "down").unlink()
    second = oversight(*RUN, "--judge", "judges.py:judge")
    assert second.returncode == 0, second.stderr
    records = read_lines(boats / "run" / "transcripts.jsonl")
    assert len(records) == 4 and all(r["status"] == "complete" and r["verdict"] for r in records)
    assert _manifest(boats / "run")["status"] == "complete"


def test_a_run_whose_games_all_failed_exits_4(boats: Path) -> None:
    result = oversight(*RUN, "--judge", "judges.py:unreachable")
    assert result.returncode == 4, result.stderr
    assert "all 4 games failed" in _last_line(result.stdout)
    manifest = _manifest(boats / "run")
    assert manifest["status"] == "failed"
    assert manifest["games"] == {"planned": 4, "complete": 0, "failed": 4, "pending": 0}


def test_judging_again_with_a_judge_that_always_fails_exits_4(boats: Path) -> None:
    assert oversight(*RUN).returncode == 0
    result = oversight("judge", "run", "--judge", "judges.py:unreachable", "--out", "again")
    assert result.returncode == 4, result.stderr
    assert _manifest(boats / "again")["status"] == "failed"


def test_a_tournament_with_some_failed_games_exits_3(boats: Path) -> None:
    (boats / "down").touch()
    (boats / "t.toml").write_text(
        'task = "boats.jsonl"\nprotocols = ["blind"]\n[[players]]\nname = "p"\nmodel = "scripted/auto"\n'
        '[[judges]]\nname = "flaky"\njudge = "judges.py:judge"\n'
    )
    result = oversight("tournament", "t.toml", "--out", "t")
    assert result.returncode == 3, result.stderr
    assert _manifest(boats / "t")["status"] == "incomplete"


def test_closed_input_stops_a_human_judged_run_and_a_rerun_judges_the_game(workdir: Path) -> None:
    args = [sys.executable, "-m", "oversight", "run", "blind", "--limit", "1", "--judge", "human", "--out", "run"]
    closed = subprocess.run(args, input="", capture_output=True, text=True, timeout=120)
    assert closed.returncode == 2, closed.stderr
    assert closed.stderr.strip().splitlines() == [
        "oversight: error: --judge human: the input closed before the game was judged; rerun to judge it"
    ]
    assert not [r for r in read_lines(workdir / "run" / "transcripts.jsonl") if r["status"] == "complete"]
    assert _manifest(workdir / "run")["status"] == "aborted"

    answered = subprocess.run(args, input="A\n\n", capture_output=True, text=True, timeout=120)
    assert answered.returncode == 0, answered.stderr
    [record] = read_lines(workdir / "run" / "transcripts.jsonl")
    assert record["status"] == "complete" and record["verdict"]["choice"] == 0


def test_closed_input_stops_judging_again(workdir: Path) -> None:
    assert oversight("run", "debate", "--limit", "2", "--rounds", "1", "--out", "run").returncode == 0
    args = [sys.executable, "-m", "oversight", "judge", "run", "--judge", "human", "--out", "again"]
    closed = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert closed.returncode == 2, closed.stderr
    assert "input closed" in closed.stderr
    assert not [r for r in read_lines(workdir / "again" / "transcripts.jsonl") if r["status"] == "complete"]


def _wait_for_a_record(path: Path, proc: subprocess.Popen) -> None:
    """Block until the run has written its first game (a condition, not a timing assumption)."""
    while not (path.exists() and b"\n" in path.read_bytes()):
        assert proc.poll() is None, "the run ended before it could be stopped"
        time.sleep(0.02)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_a_long_in_process_run(workdir: Path, sig: signal.Signals) -> None:
    args = [sys.executable, "-m", "oversight", "run", "debate", "--limit", "200", "--set", "rounds=100",
            "--max-connections", "1", "--out", "run"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_for_a_record(workdir / "run" / "transcripts.jsonl", proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert "Traceback" not in err.decode()
    records = read_lines(workdir / "run" / "transcripts.jsonl")  # every line whole
    assert len({r["game_id"] for r in records}) == len(records) < 400
    assert _manifest(workdir / "run")["status"] == "interrupted"
    assert json.loads((workdir / "run" / "summary.json").read_text())["pending"] > 0


def test_a_game_in_progress_can_be_cancelled_between_model_calls(workdir: Path) -> None:
    """Stopping reaches a game between two of its model calls, even when the model answers in-process."""
    run_plan = plan(RunConfig(protocol="debate", model="scripted/auto", limit=1, options={"rounds": 100}))
    matchup = run_plan.matchups[0]
    setup = next(iter(matchup.protocol.setups(run_plan.task.name, run_plan.items)))

    async def scenario() -> bool:
        pool = ModelPool(BackendOptions())
        game = asyncio.create_task(GamePlayer(matchup, pool)(setup))
        await asyncio.sleep(0)  # the game starts and makes its first call
        game.cancel()
        try:
            await game
        except asyncio.CancelledError:
            return True
        finally:
            await pool.aclose()
        return False

    assert asyncio.run(scenario()), "the whole game ran before anything else could"


# Sends SIGTERM to itself just as the summary is about to be written, as a user's SIGTERM during the summary of a
# long run would arrive.
SIGTERM_IN_SUMMARY = """
import os, signal, sys
from oversight.cli import main
from oversight.runfolder import RunFolder

def write_summary(self, summary):
    os.kill(os.getpid(), signal.SIGTERM)
    raise AssertionError("SIGTERM did not stop the summary")

RunFolder.write_summary = write_summary
main(sys.argv[1:])
"""


def test_a_run_stopped_in_its_summary_is_interrupted_and_a_rerun_writes_the_summary(workdir: Path) -> None:
    args = ["run", "debate", "--limit", "2", "--rounds", "1", "--out", "run"]
    stopped = subprocess.run([sys.executable, "-c", SIGTERM_IN_SUMMARY, *args], capture_output=True, text=True,
                             timeout=120)
    assert stopped.returncode == 130, stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert _manifest(workdir / "run")["status"] == "interrupted"
    assert not (workdir / "run" / "summary.json").exists()
    assert len(read_lines(workdir / "run" / "transcripts.jsonl")) == 4

    rerun = oversight(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert _manifest(workdir / "run")["status"] == "complete"
    summary = json.loads((workdir / "run" / "summary.json").read_text())
    assert (summary["games"], summary["complete"], summary["pending"]) == (4, 4, 0)


def test_help_documents_the_exit_codes() -> None:
    for command in ("run", "tournament", "judge"):
        text = oversight_in_process(command, "--help").stdout
        assert "Exit codes" in text and "130" in text and " 3 " in text and " 4 " in text, text


def test_a_failed_game_keeps_the_turns_it_finished(workdir: Path) -> None:
    (workdir / "judges.py").write_text(FLAKY_JUDGE)
    result = oversight("run", "debate", "--limit", "2", "--rounds", "2", "--judge", "judges.py:unreachable",
                       "--out", "run")
    assert result.returncode == 4, result.stderr
    records = read_lines(workdir / "run" / "transcripts.jsonl")
    assert records and all(r["status"] == "failed" for r in records)
    for record in records:
        arguments = [t for t in record["turns"] if t["meta"].get("kind") == "argument"]
        assert len(arguments) == 4  # two rounds of two debaters, all played before the judge failed
        assert "unreachable" in record["error"]
