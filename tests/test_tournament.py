"""Tournaments from config files, stronger-debater options, and judging stored games again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oversight.loopback import LoopbackServer

from .conftest import CliResult, oversight, oversight_in_process, read_lines, scripted_tournament

HTTP_CONFIG = """
name = "http"
task = "mini-stories"
limit = 2
protocols = ["debate", "consultancy", "blind", "expert"]
max_connections = 4

[settings]
rounds = 1

[[players]]
name = "quoter"
model = "openai/debater"

[[players]]
name = "inventor"
model = "openai/liar"

[[judges]]
name = "reader"
model = "openai/judge"
"""


SCRIPTED_CONFIG = scripted_tournament("scripted", 4, ["debate", "consultancy", "blind", "expert"],
                                      {"careful-reader": "scripted/judge"})


def scripted_demo(workdir: Path) -> CliResult:
    (workdir / "scripted.toml").write_text(SCRIPTED_CONFIG)
    return oversight("tournament", "scripted.toml", "--out", "demo")


def test_the_default_demo_runs_offline_on_the_embedded_models(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    printed = oversight_in_process("tournament", "--print-config")
    assert printed.returncode == 0 and 'model = "llamacpp/qwen2.5-coder-1.5b"' in printed.stdout
    result = oversight("tournament", "--limit", "1", "--out", "demo")
    assert result.returncode == 0, result.stderr
    summary = json.loads((workdir / "demo" / "summary.json").read_text())
    # debate and consultancy play the item in every seating and pairing of the two players
    assert summary["failed"] == 0 and summary["pending"] == 0 and summary["complete"] == 10
    assert set(summary["by_protocol"]) == {"debate", "consultancy", "blind", "expert"}
    assert {row["player"] for row in summary["ratings"]["players"]} == {"qwen-1.5b", "qwen-0.5b"}
    assert "player ratings" in result.stdout and "judge accuracy" in result.stdout
    assert "loading llamacpp/qwen2.5-coder-1.5b" in result.stderr and "oversight report demo" in result.stdout


def test_schedule_pairs_every_ordering_of_players(openai_env: dict[str, str], server: LoopbackServer, workdir: Path) -> None:
    (workdir / "t.toml").write_text(HTTP_CONFIG)
    result = oversight("tournament", "t.toml", "--out", "run", env=openai_env)
    assert result.returncode == 0, result.stderr
    records = read_lines(workdir / "run" / "transcripts.jsonl")
    by_protocol = {p: [r for r in records if r["protocol"] == p] for p in ("debate", "consultancy", "blind", "expert")}
    # debate: 2 orderings of the players x 2 items x 2 seatings; consultancy: 2 players x 2 items x honest/dishonest
    assert [len(by_protocol[p]) for p in ("debate", "consultancy", "blind", "expert")] == [8, 8, 2, 2]
    pairs = {(r["players"]["debater_a"], r["players"]["debater_b"]) for r in by_protocol["debate"]}
    assert pairs == {("quoter", "inventor"), ("inventor", "quoter")}
    assert all(r["players"]["judge"] == "reader" for r in records)
    assert len({r["game_id"] for r in records}) == len(records)
    # the honest quoter beats the inventor of quotes whenever it argues the truth
    for record in by_protocol["debate"]:
        honest_seat = next(seat for seat, choice in record["seating"].items() if choice == record["answer"])
        if record["players"][f"debater_{honest_seat.lower()}"] == "quoter":
            assert record["correct"]
    made = server.state.chat_requests
    again = oversight("tournament", "t.toml", "--out", "run", "--no-cache", env=openai_env)
    assert again.returncode == 0, again.stderr
    assert server.state.chat_requests == made  # every game was already complete
    assert len(read_lines(workdir / "run" / "transcripts.jsonl")) == len(records)


def test_best_of_n_and_critique_refine_are_recorded(workdir: Path) -> None:
    (workdir / "strong.toml").write_text(
        'limit = 1\nprotocols = ["debate"]\n[settings]\nrounds = 1\n'
        '[[players]]\nname = "bo3"\nmodel = "scripted/debater"\nbest_of = 3\n'
        '[[players]]\nname = "refiner"\nmodel = "scripted/debater"\ncritique_refine = true\n'
        '[[judges]]\nname = "j"\nmodel = "scripted/judge"\n'
    )
    result = oversight("tournament", "strong.toml", "--out", "run")
    assert result.returncode == 0, result.stderr
    records = read_lines(workdir / "run" / "transcripts.jsonl")
    assert len(records) == 4
    for record in records:
        for turn in (t for t in record["turns"] if t["meta"].get("kind") == "argument"):
            player = record["players"][turn["role"]]
            if player == "bo3":
                assert len(turn["meta"]["candidates"]) == 3
                assert all(0 <= c["score"] <= 1 for c in turn["meta"]["candidates"])
                assert turn["content"] == turn["meta"]["candidates"][turn["meta"]["chosen_candidate"]]["text"]
            else:
                assert turn["meta"]["draft"] and turn["meta"]["critique"]
        roles_called = [c["role"] for c in record["calls"]]
        assert roles_called.count("debater_a") + roles_called.count("debater_b") == 3 + 3 + 3  # 3 drafts + 3 scores; draft, critique, revision


def test_a_player_can_bring_its_own_prompts(workdir: Path) -> None:
    (workdir / "variant" / "debate").mkdir(parents=True)
    (workdir / "variant" / "debate" / "debater.j2").write_text("VARIANT argue {{ assigned }}")
    (workdir / "v.toml").write_text(
        'limit = 1\nprotocols = ["consultancy"]\n[settings]\nrounds = 1\n'
        '[[players]]\nname = "plain"\nmodel = "scripted/echo"\n'
        '[[players]]\nname = "styled"\nmodel = "scripted/echo"\nprompts = "variant"\n'
        '[[judges]]\nname = "j"\nmodel = "scripted/judge"\n'
    )
    (workdir / "variant" / "debate" / "consultant.j2").write_text("VARIANT consult {{ assigned }}")
    result = oversight("tournament", "v.toml", "--out", "run")
    assert result.returncode == 0, result.stderr
    for record in read_lines(workdir / "run" / "transcripts.jsonl"):
        argument = next(t for t in record["turns"] if t["meta"].get("kind") == "argument")
        assert argument["content"].startswith("VARIANT") == (record["players"]["consultant"] == "styled")


@pytest.mark.parametrize(("text", "fragment"), [
    ("name = [", "not valid TOML"),
    ('[[players]]\nname = "a"\nmodel = "scripted/debater"\ncolour = 1\n[[judges]]\nname = "j"\nmodel = "scripted/judge"',
     "players.0.colour"),
    ('[[players]]\nname = "a"\nmodel = "scripted/debater"\n', "judges: Field required"),
    ('protocols = ["debait"]\n[[players]]\nname = "a"\nmodel = "scripted/debater"\n[[judges]]\nname = "j"\nmodel = "scripted/judge"',
     "unknown protocol 'debait'"),
    ('[[players]]\nname = "a"\nmodel = "scripted/debater"\n[[players]]\nname = "a"\nmodel = "scripted/liar"\n'
     '[[judges]]\nname = "j"\nmodel = "scripted/judge"', "two players are named 'a'"),
    ('[[players]]\nname = "a"\nmodel = "scripted/nosuch"\n[[judges]]\nname = "j"\nmodel = "scripted/judge"',
     "unknown scripted policy 'nosuch'"),
])
def test_bad_configs_are_one_line_errors(workdir: Path, text: str, fragment: str) -> None:
    (workdir / "bad.toml").write_text(text)
    result = oversight_in_process("tournament", "bad.toml")
    assert result.returncode == 2, result.stdout
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert fragment in result.stderr, result.stderr


def test_missing_config_file(workdir: Path) -> None:
    result = oversight_in_process("tournament", "nowhere.toml")
    assert result.returncode == 2 and "nowhere.toml" in result.stderr


def test_judging_stored_games_again_makes_no_debater_calls(workdir: Path) -> None:
    assert scripted_demo(workdir).returncode == 0
    original = read_lines(workdir / "demo" / "transcripts.jsonl")
    result = oversight("judge", "demo", "--judge", "scripted/first", "--out", "again")
    assert result.returncode == 0, result.stderr
    judged = read_lines(workdir / "again" / "transcripts.jsonl")
    assert len(judged) == len(original)
    by_source = {r["meta"]["source_game"]: r for r in judged}
    assert set(by_source) == {r["game_id"] for r in original}
    for record in original:
        new = by_source[record["game_id"]]
        assert [c["role"] for c in new["calls"]] == ["judge"]
        assert new["roles"]["judge"] == "scripted/first" and new["verdict"]["choice"] == 0
        kept = [t["content"] for t in record["turns"] if t["meta"].get("kind") != "verdict"]
        assert [t["content"] for t in new["turns"] if t["meta"].get("kind") != "verdict"] == kept
    manifest = json.loads((workdir / "again" / "run.json").read_text())
    assert manifest["source_run"] == "demo" and manifest["status"] == "complete"
    resumed = oversight("judge", "demo", "--judge", "scripted/first", "--out", "again")
    assert resumed.returncode == 0 and len(read_lines(workdir / "again" / "transcripts.jsonl")) == len(original)


def test_judge_needs_a_run_and_a_judge(workdir: Path) -> None:
    (workdir / "empty").mkdir()
    assert "not a run folder" in oversight_in_process("judge", "empty", "--judge", "scripted/judge").stderr
    assert oversight_in_process("run", "debate", "--limit", "1", "--out", "r").returncode == 0
    no_judge = oversight_in_process("judge", "r")
    assert no_judge.returncode == 2 and "give --judge" in no_judge.stderr


def test_tournament_summary_rates_players_and_judges(workdir: Path) -> None:
    result = scripted_demo(workdir)
    assert result.returncode == 0, result.stderr
    ratings = json.loads((workdir / "demo" / "summary.json").read_text())["ratings"]
    ranked = [row["player"] for row in ratings["players"]]
    assert ranked == ["quoter", "inventor"]  # the inventor's quotes are never verified
    assert {row["protocol"] for row in ratings["judges"]} == {"debate", "consultancy", "blind", "expert"}
    assert "player ratings" in result.stdout and "judge accuracy vs debater rating" in result.stdout


def test_per_protocol_limits_play_costly_protocols_on_fewer_items(workdir: Path) -> None:
    (workdir / "limits.toml").write_text(SCRIPTED_CONFIG.replace("[settings]", "[limits]\ndebate = 1\n\n[settings]"))
    assert oversight_in_process("tournament", "limits.toml", "--out", "lim").returncode == 0
    records = read_lines(workdir / "lim" / "transcripts.jsonl")
    items = {p: {r["item_id"] for r in records if r["protocol"] == p} for p in ("debate", "blind", "consultancy")}
    assert len(items["debate"]) == 1 and len(items["blind"]) == 4 and len(items["consultancy"]) == 4
    assert items["debate"] <= items["blind"]  # the first items of the same list

    (workdir / "bad.toml").write_text(SCRIPTED_CONFIG.replace("[settings]", "[limits]\nida = 1\n\n[settings]"))
    bad = oversight_in_process("tournament", "bad.toml", "--out", "bad")
    assert bad.returncode == 2 and "limits names 'ida'" in bad.stderr and "\n" not in bad.stderr.strip()
