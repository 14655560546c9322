"""A run folder is a record to trust: one writer at a time, settings and prompts it can prove, repairable,
and free of keys."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from oversight.loopback import LoopbackServer
from oversight.models.base import ChatMessage, Completion, GenerationSettings
from oversight.models.cache import ResponseCache, StoredRequest
from oversight.prompts import builtin_prompts_dir
from oversight.runlock import RunLock

from .conftest import HTTP_ROLES, CliResult, oversight, oversight_in_process, read_lines

SCRIPTED_RUN = ("run", "debate", "--model", "scripted/auto", "--rounds", "1")


def _one_line_error(result: CliResult, *fragments: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _each_game_once(run: Path, games: int) -> None:
    ids = [r["game_id"] for r in read_lines(run / "transcripts.jsonl")]
    assert len(ids) == len(set(ids)) == games


# one writer per run folder


def test_a_folder_in_use_is_refused_naming_its_holder(workdir: Path) -> None:
    assert oversight(*SCRIPTED_RUN, "--limit", "1", "--out", "same").returncode == 0
    log = workdir / "same" / "transcripts.jsonl"
    before = log.read_bytes()
    with RunLock.acquire(workdir / "same"):
        refused = oversight(*SCRIPTED_RUN, "--limit", "2", "--out", "same")
        line = _one_line_error(refused, f"pid {os.getpid()}", f"host {socket.gethostname()}", "use another --out")
        assert line.startswith("oversight: error: same is in use by")
        _one_line_error(oversight("repair", "same"), "same is in use by", f"pid {os.getpid()}")
        assert log.read_bytes() == before
    resumed = oversight(*SCRIPTED_RUN, "--limit", "2", "--out", "same")
    assert resumed.returncode == 0, resumed.stderr
    _each_game_once(workdir / "same", 4)


def test_two_processes_on_one_folder_write_each_game_once(workdir: Path) -> None:
    args = [sys.executable, "-m", "oversight", *SCRIPTED_RUN, "--limit", "200", "--out", "same"]
    procs = [subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [(proc.communicate(timeout=300)[1], proc.returncode) for proc in procs]
    # whichever starts second is refused while the first holds the folder, or finds every game done after it
    assert any(code == 0 for _, code in outcomes), outcomes
    for err, code in outcomes:
        assert code in (0, 2), err
        if code == 2:
            assert re.search(r"same is in use by pid \d+ on host .+ since ", err), err
    _each_game_once(workdir / "same", 400)


def test_a_lock_left_by_a_dead_process_is_taken_over(workdir: Path) -> None:
    # a process that takes the lock and dies without letting go of it
    holder = "import os, pathlib, oversight.runlock as l; l.RunLock.acquire(pathlib.Path('run')); os._exit(0)"
    subprocess.run([sys.executable, "-c", holder], check=True)
    assert json.loads((workdir / "run" / "run.lock").read_text())["pid"] != os.getpid()
    played = oversight(*SCRIPTED_RUN, "--limit", "1", "--out", "run")
    assert played.returncode == 0, played.stderr
    # whatever a lock file says, only a live holder blocks
    (workdir / "run" / "run.lock").write_text("not even json")
    again = oversight(*SCRIPTED_RUN, "--limit", "2", "--out", "run")
    assert again.returncode == 0, again.stderr
    _each_game_once(workdir / "run", 4)


# provenance


def test_an_edited_template_is_not_mixed_into_a_run(workdir: Path) -> None:
    (workdir / "mine" / "debate").mkdir(parents=True)
    template = workdir / "mine" / "debate" / "judge.j2"
    shutil.copy(builtin_prompts_dir() / "debate" / "judge.j2", template)
    args = (*SCRIPTED_RUN, "--limit", "1", "--prompts", "mine", "--out", "run")
    assert oversight_in_process(*args).returncode == 0
    template.write_text(template.read_text().replace("Reply with exactly two lines", "Reply with two lines"))
    _one_line_error(
        oversight_in_process(*args), "run: holds a run with other settings", "the templates changed (debate/judge.j2)"
    )
    # a task file is known by its content, not its name
    (workdir / "t.jsonl").write_text('{"id": "q", "question": "Colour?", "choices": ["red", "blue"], "answer": 1}\n')
    task_args = (*SCRIPTED_RUN, "--task", "t.jsonl", "--out", "task-run")
    assert oversight_in_process(*task_args).returncode == 0
    (workdir / "t.jsonl").write_text('{"id": "q", "question": "Colour?", "choices": ["red", "green"], "answer": 1}\n')
    _one_line_error(oversight_in_process(*task_args), "the task changed")


def test_a_run_says_what_made_it_and_what_each_call_sent(workdir: Path) -> None:
    assert oversight_in_process(*SCRIPTED_RUN, "--limit", "1", "--out", "run").returncode == 0
    manifest = json.loads((workdir / "run" / "run.json").read_text())
    assert manifest["command"] == ["oversight", *SCRIPTED_RUN, "--limit", "1", "--out", "run"]
    assert manifest["package_version"] and "openai" in manifest["packages"]
    assert re.fullmatch(r"[0-9a-f]{40}", manifest.get("git_revision") or "0" * 40)
    parts = manifest["fingerprint_parts"]
    assert {"protocol settings", "models", "judge", "task", "seed", "package version", "templates:debate/judge.j2"} <= set(parts)

    record = read_lines(workdir / "run" / "transcripts.jsonl")[0]
    assert all(re.fullmatch(r"[0-9a-f]{64}", call["key"]) for call in record["calls"])
    shown = oversight_in_process("show", "run", record["game_id"][:8], "--prompts")
    assert shown.returncode == 0, shown.stderr
    judge_call = shown.stdout[shown.stdout.rindex("· judge ·"):]
    assert "You cannot read the story. Each debater defends a different answer" in judge_call
    assert record["question"] in judge_call


# torn lines and a damaged cache


def test_a_torn_line_mid_log_is_repaired_on_request(workdir: Path) -> None:
    assert oversight_in_process(*SCRIPTED_RUN, "--limit", "2", "--out", "run").returncode == 0
    log = workdir / "run" / "transcripts.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    lines[1] = lines[1][:40] + "\n"  # a line cut short, then more games after it
    log.write_text("".join(lines))
    for command in (("show", "run"), SCRIPTED_RUN + ("--limit", "2", "--out", "run")):
        _one_line_error(oversight_in_process(*command), "transcripts.jsonl:2", "oversight repair run")
    repaired = oversight_in_process("repair", "run")
    assert repaired.returncode == 0, repaired.stderr
    assert repaired.stdout.strip().splitlines() == ["run: kept 3 game records, dropped 1 unreadable line"]
    assert oversight_in_process("show", "run").returncode == 0
    assert oversight_in_process(*SCRIPTED_RUN, "--limit", "2", "--out", "run").returncode == 0
    _each_game_once(workdir / "run", 4)


def test_an_unreadable_cache_row_is_a_miss(openai_env: dict[str, str], server: LoopbackServer, workdir: Path) -> None:
    args = ("run", "debate", "--limit", "1", "--rounds", "1", *HTTP_ROLES)
    assert oversight(*args, "--out", "a", env=openai_env).returncode == 0
    made = server.state.chat_requests
    with sqlite3.connect(workdir / "cache" / "responses.sqlite") as db:
        db.execute("UPDATE responses SET completion = '{\"text\": '")
    second = oversight(*args, "--out", "b", env=openai_env)
    assert second.returncode == 0, second.stderr
    assert all(r["status"] == "complete" for r in read_lines(workdir / "b" / "transcripts.jsonl"))
    assert server.state.chat_requests == 2 * made
    assert oversight(*args, "--out", "c", env=openai_env).returncode == 0
    assert server.state.chat_requests == 2 * made  # the damaged rows were replaced


def test_a_cache_file_from_before_requests_were_kept_still_serves(tmp_path: Path) -> None:
    path = tmp_path / "responses.sqlite"
    with sqlite3.connect(path) as db:  # the schema as the first release wrote it
        db.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, completion TEXT NOT NULL)")
        db.execute("INSERT INTO responses VALUES ('k', ?)", (Completion(text="stored").model_dump_json(),))
    cache = ResponseCache(path)
    request = StoredRequest(messages=[ChatMessage(role="user", content="hi")], settings=GenerationSettings())
    cache.put_request("k", request)
    assert cache.get("k") == Completion(text="stored", cached=True)
    assert cache.request("k") == request
    cache.close()


def test_a_cache_that_cannot_be_used_is_one_line(openai_env: dict[str, str], workdir: Path) -> None:
    args = ("run", "debate", "--limit", "1", "--rounds", "1", *HTTP_ROLES)
    (workdir / "cache").mkdir()
    (workdir / "cache" / "responses.sqlite").write_bytes(b"this is not a database" * 100)
    _one_line_error(oversight_in_process(*args, "--out", "a"), "responses.sqlite", "--no-cache", "delete")
    assert oversight_in_process(*args, "--out", "a", "--no-cache").returncode == 0
    (workdir / "file").write_text("")
    unwritable = {"OVERSIGHT_CACHE_DIR": str(workdir / "file" / "cache")}
    _one_line_error(oversight_in_process(*args, "--out", "b", env=unwritable), "responses.sqlite", "--no-cache")


# paths and secrets


def test_out_must_be_a_folder_that_can_be_written(workdir: Path) -> None:
    (workdir / "taken").write_text("a file")
    _one_line_error(oversight_in_process(*SCRIPTED_RUN, "--limit", "1", "--out", "taken"), "taken")
    _one_line_error(oversight_in_process(*SCRIPTED_RUN, "--limit", "1", "--out", "taken/run"), "taken/run")


def test_a_tournament_file_that_is_not_utf8_is_one_line(workdir: Path) -> None:
    (workdir / "t.toml").write_bytes('name = "caf\u00e9"\n'.encode("latin-1"))
    _one_line_error(oversight_in_process("tournament", "t.toml"), "t.toml", "UTF-8")
    _one_line_error(oversight_in_process("tournament", "t.toml", "--print-config"), "t.toml", "UTF-8")


def test_a_tournament_name_stays_inside_results(workdir: Path) -> None:
    (workdir / "t.toml").write_text(
        'name = "x/../../../../outside"\nlimit = 1\nprotocols = ["blind"]\n'
        '[[players]]\nname = "p"\nmodel = "scripted/debater"\n[[judges]]\nname = "j"\nmodel = "scripted/judge"\n'
    )
    result = oversight("tournament", "t.toml")
    assert result.returncode == 0, result.stderr
    (folder,) = (workdir / "results").iterdir()
    assert folder.name.startswith("tournament-x-") and (folder / "transcripts.jsonl").is_file()


def test_keys_never_reach_the_run_folder_or_the_cache(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key, url_secret = "sk-live-3b1f99c0de77aa42", "sk-userinfo-77e0c4d2b9"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    (workdir / "t.jsonl").write_text(json.dumps(
        {"id": "q", "question": "What is the code?", "choices": ["red", "blue"], "answer": 1,
         "passage": f"The code on the door is {key}, painted blue."}) + "\n")
    run = ("run", "debate", "--task", "t.jsonl", "--rounds", "1")
    with LoopbackServer() as server:
        # a key in an endpoint's userinfo, in the command, the config and every record's roles
        url = server.url.replace("http://", f"http://me:{url_secret}@")
        oversight(*run, "--out", "url", "--model", f"openai/echo?base_url={url}")
        # a model that repeats the key it was shown (in the passage)
        echoed = oversight(*run, "--out", "echo", "--model", f"openai/echo?base_url={server.url}",
                           "--judge", f"openai/judge?base_url={server.url}")
        assert echoed.returncode == 0, echoed.stderr
    for folder in ("url", "echo"):
        assert oversight("report", folder).returncode == 0
    assert read_lines(workdir / "url" / "transcripts.jsonl")
    echoed_turns = [t["content"] for r in read_lines(workdir / "echo" / "transcripts.jsonl") for t in r["turns"]]
    assert any("The code on the door is [redacted]" in turn for turn in echoed_turns)
    for path in [p for folder in ("url", "echo", "cache") for p in (workdir / folder).rglob("*") if p.is_file()]:
        data = path.read_bytes()
        assert key.encode() not in data and url_secret.encode() not in data, path
