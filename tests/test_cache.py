"""The response cache: a replayed run makes no requests; --no-cache bypasses it; processes can share it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from oversight.loopback import LoopbackServer
from oversight.models.cache import ResponseCache

from .conftest import HTTP_ROLES, oversight, read_lines


def test_a_replayed_run_makes_zero_requests(openai_env: dict[str, str], server: LoopbackServer, workdir: Path) -> None:
    first = oversight("run", "debate", "--limit", "3", "--rounds", "1", "--out", "first", *HTTP_ROLES, env=openai_env)
    assert first.returncode == 0, first.stderr
    made = server.state.chat_requests
    assert made == 6 * 3

    replay = oversight("run", "debate", "--limit", "3", "--rounds", "1", "--out", "replay", *HTTP_ROLES, env=openai_env)
    assert replay.returncode == 0, replay.stderr
    assert server.state.chat_requests == made
    original = {r["game_id"]: r for r in read_lines(workdir / "first" / "transcripts.jsonl")}
    replayed = read_lines(workdir / "replay" / "transcripts.jsonl")
    assert len(replayed) == 6
    for record in replayed:
        assert all(call["cached"] for call in record["calls"])
        assert [t["content"] for t in record["turns"]] == [t["content"] for t in original[record["game_id"]]["turns"]]


def test_no_cache_makes_every_request(openai_env: dict[str, str], server: LoopbackServer) -> None:
    args = ("run", "debate", "--limit", "1", "--rounds", "1", "--no-cache", *HTTP_ROLES)
    assert oversight(*args, "--out", "a", env=openai_env).returncode == 0
    assert oversight(*args, "--out", "b", env=openai_env).returncode == 0
    assert server.state.chat_requests == 2 * 2 * 3


def test_two_processes_share_one_cache_file(openai_env: dict[str, str], server: LoopbackServer) -> None:
    args = [sys.executable, "-m", "oversight", "run", "debate", "--limit", "8", "--rounds", "1", *HTTP_ROLES]
    procs = [
        subprocess.Popen([*args, "--out", f"p{i}"], env=openai_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for i in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    before = server.state.chat_requests
    third = oversight("run", "debate", "--limit", "8", "--rounds", "1", "--out", "p3", *HTTP_ROLES, env=openai_env)
    assert third.returncode == 0, third.stderr
    assert server.state.chat_requests == before



def _open_cache(path: str, results: Any) -> None:
    try:
        ResponseCache(Path(path))
    except Exception as exc:  # the child reports what went wrong rather than dying with it
        results.put(str(exc))
    else:
        results.put("ok")


def test_two_processes_can_create_the_same_new_cache_at_once(tmp_path: Path) -> None:
    """Two runs starting together on a new cache file both switch it to WAL; SQLite can refuse one of them at once
    ("database is locked": 33 of 100 pairs before the setup was retried), which must not stop a run."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    results = context.Queue()
    for pair in range(20):
        path = str(tmp_path / f"c{pair}" / "responses.sqlite")
        procs = [context.Process(target=_open_cache, args=(path, results)) for _ in range(2)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        assert [results.get(), results.get()] == ["ok", "ok"], f"pair {pair}"
