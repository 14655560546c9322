"""The minimal debate end to end on the scripted backend and over HTTP: records, seatings, verdicts, summary."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from oversight.loopback import LoopbackServer
from oversight.protocol import ProtocolOptions
from oversight.runner import RunConfig, execute
from oversight.tasks import load_task

from .conftest import API_KEY, HTTP_ROLES, oversight, oversight_in_process, read_lines

REQUIRED = {"game_id", "protocol", "item_id", "status", "roles", "turns", "verdict", "correct", "error", "schema_version"}


def test_every_item_is_played_in_both_seatings(workdir: Path) -> None:
    result = oversight("run", "debate", "--limit", "5", "--rounds", "2", "--out", "run")
    assert result.returncode == 0, result.stderr
    records = read_lines(workdir / "run" / "transcripts.jsonl")
    assert len(records) == 10
    for record in records:
        assert REQUIRED <= set(record)
        assert record["status"] == "complete"
        assert record["roles"] == {"debater_a": "scripted/auto", "debater_b": "scripted/auto", "judge": "scripted/auto"}
        debater_turns = [t for t in record["turns"] if t["role"] != "judge"]
        assert [(t["seat"], t["round"]) for t in debater_turns] == [("A", 1), ("B", 1), ("A", 2), ("B", 2)]
        for turn in debater_turns:
            assert turn["usage"]["completion_tokens"] > 0
            defends = record["seating"][turn["seat"]]
            assert turn["meta"]["side"] == ("correct" if defends == record["answer"] else "incorrect")
        probabilities = record["verdict"]["probabilities"]
        assert abs(sum(probabilities) - 1) < 1e-9
        assert record["correct"] == (record["verdict"]["choice"] == record["answer"])
    by_item: dict[str, list[dict]] = {}
    for record in records:
        by_item.setdefault(record["item_id"], []).append(record)
    for games in by_item.values():
        assert sorted(g["seating"]["A"] == g["answer"] for g in games) == [False, True]


def test_game_ids_are_deterministic(workdir: Path) -> None:
    assert oversight("run", "debate", "--limit", "3", "--out", "one").returncode == 0
    assert oversight("run", "debate", "--limit", "3", "--out", "two").returncode == 0
    ids = [sorted(r["game_id"] for r in read_lines(workdir / d / "transcripts.jsonl")) for d in ("one", "two")]
    assert ids[0] == ids[1] and len(set(ids[0])) == 6


def test_the_judge_never_sees_the_passage(workdir: Path) -> None:
    item = load_task("mini-stories").items[0]
    result = oversight("run", "debate", "--limit", "1", "--rounds", "1", "--judge", "scripted/echo", "--out", "run")
    assert result.returncode == 0, result.stderr
    for record in read_lines(workdir / "run" / "transcripts.jsonl"):
        judge_prompts = [t["content"] for t in record["turns"] if t["role"] == "judge"]
        assert judge_prompts and item.question in judge_prompts[0]
        assert all(item.passage not in prompt and "<passage>" not in prompt for prompt in judge_prompts)


def test_an_unreadable_verdict_is_asked_again_then_recorded_invalid(workdir: Path) -> None:
    result = oversight("run", "debate", "--limit", "1", "--rounds", "1", "--judge", "scripted/constant?text=Hmm.",
                       "--out", "run")
    assert result.returncode == 0, result.stderr
    for record in read_lines(workdir / "run" / "transcripts.jsonl"):
        assert record["status"] == "complete"
        assert [t["content"] for t in record["turns"] if t["role"] == "judge"] == ["Hmm."]
        assert [c["role"] for c in record["calls"]].count("judge") == 2
        assert record["verdict"]["choice"] is None and record["correct"] is False
    summary = (workdir / "run" / "summary.json").read_text()
    assert '"invalid_verdicts": 2' in summary


def test_summary_counts_accuracy_and_usage(workdir: Path) -> None:
    assert oversight("run", "debate", "--limit", "4", "--rounds", "1", "--out", "run").returncode == 0
    summary = json.loads((workdir / "run" / "summary.json").read_text())
    records = read_lines(workdir / "run" / "transcripts.jsonl")
    correct = sum(r["correct"] for r in records)
    assert summary["schema_version"] == 1
    assert (summary["games"], summary["complete"], summary["failed"], summary["pending"]) == (8, 8, 0, 0)
    assert summary["accuracy"] == correct / 8
    assert summary["accuracy_ci95"]["low"] <= summary["accuracy"] <= summary["accuracy_ci95"]["high"]
    assert summary["usage_by_role"]["judge"]["calls"] == 8
    assert summary["usage_by_role"]["debater_a"]["calls"] == 8
    assert set(summary["usage_by_model"]) == {"scripted/auto"}
    manifest = json.loads((workdir / "run" / "run.json").read_text())
    assert manifest["status"] == "complete" and manifest["schema_version"] == 1
    assert manifest["models"]["judge"] == "scripted/auto"
    assert manifest["command"][:3] == ["oversight", "run", "debate"]


def test_http_debate_reads_probabilities_from_logprobs(openai_env: dict[str, str], workdir: Path) -> None:
    result = oversight("run", "debate", "--limit", "2", "--rounds", "1", "--out", "run", *HTTP_ROLES, env=openai_env)
    assert result.returncode == 0, result.stderr
    for record in read_lines(workdir / "run" / "transcripts.jsonl"):
        assert record["status"] == "complete"
        assert record["verdict"]["source"] == "logprobs"
        assert abs(sum(record["verdict"]["probabilities"]) - 1) < 1e-9


def test_the_api_key_appears_nowhere_in_the_run_folder(
    openai_env: dict[str, str], server: LoopbackServer, workdir: Path
) -> None:
    server.inject("500", "429", "401")
    result = oversight("run", "debate", "--limit", "2", "--rounds", "1", "--out", "run", *HTTP_ROLES, env=openai_env)
    assert result.returncode == 2  # the 401 stops the run
    assert API_KEY not in result.stdout + result.stderr
    files = [p for p in (workdir / "run").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"run.json", "summary.json", "transcripts.jsonl"}
    for path in files:
        assert API_KEY not in path.read_text(errors="replace"), path
    manifest = json.loads((workdir / "run" / "run.json").read_text())
    assert manifest["status"] == "aborted" and "HTTP 401" in manifest["error"]


def test_the_run_api_is_usable_from_python(workdir: Path) -> None:
    config = RunConfig(protocol="debate", limit=2, options=ProtocolOptions(rounds=1), out=workdir / "api")
    result = asyncio.run(execute(config, ["notebook"]))
    assert result.status == "complete"
    assert result.summary.complete == 4
    assert len(result.folder.records()) == 4


def test_show_lists_games_and_renders_one(workdir: Path) -> None:
    assert oversight("run", "debate", "--limit", "1", "--rounds", "1", "--out", "run").returncode == 0
    record = read_lines(workdir / "run" / "transcripts.jsonl")[0]
    listing = oversight_in_process("show", "run")
    assert listing.returncode == 0 and record["game_id"] in listing.stdout
    game = oversight_in_process("show", "run", record["game_id"][:8])
    assert game.returncode == 0, game.stderr
    assert record["question"] in game.stdout
    assert "Debater 1" in game.stdout and "Debater 2" in game.stdout and "verdict:" in game.stdout


def test_protocol_settings_reach_the_game(workdir: Path) -> None:
    result = oversight("run", "debate", "--limit", "1", "--set", "rounds=3", "--set", "both_seatings=false", "--out", "run")
    assert result.returncode == 0, result.stderr
    records = read_lines(workdir / "run" / "transcripts.jsonl")
    assert len(records) == 1
    assert max(t["round"] or 0 for t in records[0]["turns"]) == 3
    assert json.loads((workdir / "run" / "run.json").read_text())["config"]["options"] == {"rounds": 3, "both_seatings": False}
