"""Nothing lost, nothing duplicated: kill -9, Ctrl-C, torn lines and failed games all resume cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from oversight.loopback import LoopbackServer

from .conftest import HTTP_ROLES, oversight, oversight_in_process, read_lines


def _wait_for_lines(path: Path, count: int, proc: subprocess.Popen) -> None:
    """Block until the run has written ``count`` games (a condition, not a timing assumption)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= count:
            return
        assert proc.poll() is None, "the run ended before it could be interrupted"
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {count} lines")


def _start(env: dict[str, str], out: str, limit: int) -> subprocess.Popen:
    args = [sys.executable, "-m", "oversight", "run", "debate", "--limit", str(limit), "--rounds", "1",
            "--max-connections", "2", "--out", out, *HTTP_ROLES]
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _assert_complete_once(run: Path, expected: int) -> None:
    records = read_lines(run / "transcripts.jsonl")
    ids = [r["game_id"] for r in records]
    assert len(ids) == len(set(ids)), "a game was written twice"
    assert len(ids) == expected
    assert all(r["status"] == "complete" for r in records)


def test_kill_9_then_resume_loses_and_duplicates_nothing(
    openai_env: dict[str, str], server: LoopbackServer, workdir: Path
) -> None:
    server.state.latency = 0.05
    proc = _start(openai_env, "run", limit=10)
    _wait_for_lines(workdir / "run" / "transcripts.jsonl", 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = read_lines(workdir / "run" / "transcripts.jsonl")
    assert 3 <= len(before) < 20

    resumed = oversight("run", "debate", "--limit", "10", "--rounds", "1", "--out", "run", *HTTP_ROLES, env=openai_env)
    assert resumed.returncode == 0, resumed.stderr
    _assert_complete_once(workdir / "run", 20)
    after = {r["game_id"]: r for r in read_lines(workdir / "run" / "transcripts.jsonl")}
    for record in before:  # finished games were kept as they were, not replayed
        assert after[record["game_id"]]["finished_at"] == record["finished_at"]
    manifest = json.loads((workdir / "run" / "run.json").read_text())
    assert manifest["status"] == "complete"


def test_sigint_exits_130_and_resumes(openai_env: dict[str, str], server: LoopbackServer, workdir: Path) -> None:
    server.state.latency = 0.05
    proc = _start(openai_env, "run", limit=10)
    _wait_for_lines(workdir / "run" / "transcripts.jsonl", 2, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert "Traceback" not in err.decode()
    manifest = json.loads((workdir / "run" / "run.json").read_text())
    assert manifest["status"] == "interrupted"
    summary = json.loads((workdir / "run" / "summary.json").read_text())
    assert summary["pending"] > 0

    resumed = oversight("run", "debate", "--limit", "10", "--rounds", "1", "--out", "run", *HTTP_ROLES, env=openai_env)
    assert resumed.returncode == 0, resumed.stderr
    _assert_complete_once(workdir / "run", 20)


def test_a_torn_last_line_is_repaired(openai_env: dict[str, str], workdir: Path) -> None:
    args = ("run", "debate", "--limit", "2", "--rounds", "1", "--out", "run", *HTTP_ROLES)
    assert oversight(*args, env=openai_env).returncode == 0
    log = workdir / "run" / "transcripts.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # a crash mid-write

    shown = oversight_in_process("show", "run")
    assert shown.returncode == 0, shown.stderr
    resumed = oversight(*args, env=openai_env)
    assert resumed.returncode == 0, resumed.stderr
    _assert_complete_once(workdir / "run", 4)


def test_failed_games_are_recorded_then_retried_on_resume(
    openai_env: dict[str, str], server: LoopbackServer, workdir: Path
) -> None:
    # two games, two attempts per call: exactly four requests happen before both games give up
    server.inject(*["500"] * 4)
    args = ("run", "debate", "--limit", "1", "--rounds", "1", "--out", "run", "--max-attempts", "2", *HTTP_ROLES)
    first = oversight(*args, env=openai_env)
    assert first.returncode == 4, first.stderr  # every game failed
    records = read_lines(workdir / "run" / "transcripts.jsonl")
    assert [r["status"] for r in records] == ["failed", "failed"]
    assert all("gave up after 2 attempts: HTTP 500" in r["error"] for r in records)
    assert json.loads((workdir / "run" / "summary.json").read_text())["failed"] == 2

    second = oversight(*args, env=openai_env)
    assert second.returncode == 0, second.stderr
    _assert_complete_once(workdir / "run", 2)


def test_changed_settings_do_not_mix_into_an_old_run(openai_env: dict[str, str]) -> None:
    args = ("run", "debate", "--limit", "1", "--out", "run", *HTTP_ROLES)
    assert oversight_in_process(*args, "--rounds", "1").returncode == 0
    clash = oversight_in_process(*args, "--rounds", "2")
    assert clash.returncode == 2
    assert "other settings" in clash.stderr and len(clash.stderr.strip().splitlines()) == 1


