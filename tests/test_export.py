"""``oversight export RUN --format sft|dpo|csv``: preference pairs checked against a run made by hand, chat rows
filtered by outcome (debate and ``ida``), the CSV against ``oversight.load_run``, and the one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from oversight.protocols.ida.metrics import distilled_pairs, sft_row

import oversight
from oversight.records import GameRecord, RunManifest, Turn, Verdict, utc_now
from oversight.runfolder import RunFolder

from .conftest import oversight_in_process, read_lines, scripted_tournament

QUESTION = "Where is the key?"
CHOICES = ["Under the mat", "In the drawer", "On the hook"]
PASSAGE = "The key is in the drawer. The mat is new."
SPEAKER_SYSTEM = "You are Debater {seat} in a game of {protocol}. You have read the passage; the judge has not."
PAIR_SYSTEM = "You are a debater in a game of {protocol}. You have read the passage; the judge has not."


def argument(seat: str, round_number: int, defends: int, text: str) -> Turn:
    """A debater's argument as the debate family records it: what it wrote, and what listeners were shown."""
    return Turn(
        role=f"debater_{seat.lower()}", seat=seat, round=round_number, content=text,
        meta={"kind": "argument", "speaker": f"Debater {seat}", "defends": defends,
              "side": "correct" if defends == 1 else "incorrect", "shown": f"[shown] {text}", "quotes": []},
    )


def judge_turn(content: str, *, kind: str = "verdict", round_number: int | None = None) -> Turn:
    meta = {"kind": kind} | ({"speaker": "Judge"} if kind == "question" else {})
    return Turn(role="judge", content=content, round=round_number, meta=meta)


def debate_game(
    game_id: str, turns: list[Turn], picked: int | None, *, protocol: str = "debate", status: str = "complete",
    seating: dict[str, int] | None = None, choices: list[str] | None = None,
) -> GameRecord:
    """A game of item q1, whose answer is choice 1 (``In the drawer``); the judge picked ``picked``."""
    choices = choices or CHOICES[:2]
    seating = seating if seating is not None else {"A": 0, "B": 1}
    roles = {f"debater_{seat.lower()}": f"scripted/{seat.lower()}" for seat in seating if seat != "consultant"}
    if "consultant" in seating:
        roles = {"consultant": "scripted/consultant"}
    failed = status == "failed"
    return GameRecord(
        game_id=game_id, protocol=protocol, task="hand-made", item_id="q1", seating=seating,
        status=status,  # type: ignore[arg-type]
        roles={**roles, "judge": "scripted/judge"}, question=QUESTION, choices=choices, answer=1, turns=turns,
        verdict=None if failed else Verdict(choice=picked, raw=f"Answer: {picked}"),
        correct=None if failed else picked == 1, error="refused" if failed else None,
        started_at=utc_now(), finished_at=utc_now(),
    )


def hand_made_games() -> list[GameRecord]:
    """Two-round debates of one item, each a case for the pairs: the judge right, wrong, unreadable; a failed game;
    three debaters; the judge asking between rounds; and a consultancy, which has no pairs."""
    return [
        # g1: the judge sides with B, who defends the correct answer
        debate_game("g1", [argument("A", 1, 0, "A1"), argument("B", 1, 1, "B1"), argument("A", 2, 0, "A2"),
                           argument("B", 2, 1, "B2"), judge_turn("Answer: B")], 1),
        # g2: seats swapped, and the judge sides with the wrong answer (B's)
        debate_game("g2", [argument("A", 1, 1, "a1"), argument("B", 1, 0, "b1"), argument("A", 2, 1, "a2"),
                           argument("B", 2, 0, "b2"), judge_turn("Answer: A")], 0, seating={"A": 1, "B": 0}),
        # g3: no usable verdict; g4: failed
        debate_game("g3", [argument("A", 1, 0, "x"), argument("B", 1, 1, "y"), judge_turn("??")], None),
        debate_game("g4", [argument("A", 1, 0, "z")], None, status="failed"),
        # g5: three debaters in one round; the judge picks C's answer
        debate_game("g5", [argument("A", 1, 0, "three-A"), argument("B", 1, 1, "three-B"),
                           argument("C", 1, 2, "three-C"), judge_turn("Answer: C")], 2,
                    seating={"A": 0, "B": 1, "C": 2}, choices=CHOICES),
        # g6: the judge asks a question after round 1, which round 2's debaters have seen
        debate_game("g6", [argument("A", 1, 0, "i-A1"), argument("B", 1, 1, "i-B1"),
                           judge_turn("Which drawer?", kind="question", round_number=1),
                           argument("A", 2, 0, "i-A2"), argument("B", 2, 1, "i-B2"), judge_turn("Answer: B")], 1,
                    protocol="interactive-debate"),
        # g7: one consultant, who wins
        debate_game("g7", [Turn(role="consultant", round=1, content="c1",
                                meta={"kind": "argument", "speaker": "Consultant", "defends": 1, "shown": "c1"}),
                           judge_turn("Answer: B")], 1, protocol="consultancy", seating={"consultant": 1}),
    ]


def write_run(path: Path, records: list[GameRecord], config: dict[str, Any] | None = None) -> Path:
    """A run folder holding ``records`` with ``config`` in its manifest (where export finds the task)."""
    folder = RunFolder(path)
    path.mkdir(parents=True)
    folder.write_manifest(RunManifest(
        run_id=path.name, command=["oversight", "run"], config=config or {}, config_hash="hand-made", models={},
        package_version="0", python_version="3", seed=0, started_at=utc_now(), ended_at=utc_now(), status="complete",
    ))
    folder.transcripts_path.write_text("".join(record.model_dump_json() + "\n" for record in records))
    return path


@pytest.fixture
def hand_made(workdir: Path) -> Path:
    """The hand-made games, with their item's passage in a task file that ``run.json`` names."""
    task = workdir / "keys.jsonl"
    task.write_text(json.dumps({"id": "q1", "question": QUESTION, "choices": CHOICES[:2], "answer": 1,
                                "passage": PASSAGE}) + "\n")
    return write_run(workdir / "run", hand_made_games(), {"task": str(task)})


def export(*args: str) -> tuple[str, str]:
    result = oversight_in_process("export", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout, result.stderr


def user(rounds: int, round_number: int, transcript: list[str], *, choices: int = 2, passage: bool = True,
         argues: str = "") -> str:
    """The user message of an exported debater's prompt, written out by hand in the documented layout."""
    listed = "\n".join(f"{'ABC'[i]}. {choice}" for i, choice in enumerate(CHOICES[:choices]))
    parts = [f"Question: {QUESTION}", f"Choices:\n{listed}"]
    if passage:
        parts.append(f"Passage:\n{PASSAGE}")
    if transcript:
        parts.append("Transcript so far:\n" + "\n".join(transcript))
    parts.append(f"{argues}Round {round_number} of {rounds}: write your argument.")
    return "\n\n".join(parts)


def pair(game: str, round_number: int, chosen: tuple[str, str, str], rejected: tuple[str, str, str],
         content: str, *, protocol: str = "debate", correct: bool = True) -> dict[str, Any]:
    """An expected pair: ``chosen`` and ``rejected`` are (seat, answer, text)."""
    return {
        "prompt": [{"role": "system", "content": PAIR_SYSTEM.format(protocol=protocol)},
                   {"role": "user", "content": content}],
        "chosen": [{"role": "assistant", "content": chosen[2]}],
        "rejected": [{"role": "assistant", "content": rejected[2]}],
        "protocol": protocol, "game_id": game, "item_id": "q1", "round": round_number, "correct": correct,
        "chosen_role": f"debater_{chosen[0].lower()}", "rejected_role": f"debater_{rejected[0].lower()}",
        "chosen_answer": chosen[1], "rejected_answer": rejected[1],
        "chosen_model": f"scripted/{chosen[0].lower()}", "rejected_model": f"scripted/{rejected[0].lower()}",
        "chosen_player": None, "rejected_player": None,
    }


def test_dpo_pairs_of_a_hand_made_run(hand_made: Path) -> None:
    stdout, stderr = export(str(hand_made), "--format", "dpo")
    assert stdout == f"wrote 8 preference pairs to {hand_made / 'export-dpo.jsonl'}\n"
    assert stderr == ("oversight: consultancy has one speaker: no two arguments of a round to compare: "
                      "its games are left out\n")
    round_2 = ["Debater A (round 1, arguing for A): [shown] A1", "Debater B (round 1, arguing for B): [shown] B1"]
    swapped = ["Debater A (round 1, arguing for B): [shown] a1", "Debater B (round 1, arguing for A): [shown] b1"]
    asked = ["Debater A (round 1, arguing for A): [shown] i-A1", "Debater B (round 1, arguing for B): [shown] i-B1",
             "Judge (after round 1) asks: Which drawer?"]
    assert read_lines(hand_made / "export-dpo.jsonl") == [
        # each round: the argument of the side the judge picked against the other's, after the same transcript
        pair("g1", 1, ("B", "B", "B1"), ("A", "A", "A1"), user(2, 1, [])),
        pair("g1", 2, ("B", "B", "B2"), ("A", "A", "A2"), user(2, 2, round_2)),
        # the judge picked the wrong answer: the pair is kept, and says so
        pair("g2", 1, ("B", "A", "b1"), ("A", "B", "a1"), user(2, 1, []), correct=False),
        pair("g2", 2, ("B", "A", "b2"), ("A", "B", "a2"), user(2, 2, swapped), correct=False),
        # g3 (no usable verdict) and g4 (failed) give none; with three debaters, the one picked against each other
        pair("g5", 1, ("C", "C", "three-C"), ("A", "A", "three-A"), user(1, 1, [], choices=3), correct=False),
        pair("g5", 1, ("C", "C", "three-C"), ("B", "B", "three-B"), user(1, 1, [], choices=3), correct=False),
        # a question the judge asked between rounds is part of what round 2's debaters had seen
        pair("g6", 1, ("B", "B", "i-B1"), ("A", "A", "i-A1"), user(2, 1, []), protocol="interactive-debate"),
        pair("g6", 2, ("B", "B", "i-B2"), ("A", "A", "i-A2"), user(2, 2, asked), protocol="interactive-debate"),
    ]


def test_dpo_keep_correct_keeps_the_pairs_whose_chosen_side_is_right(hand_made: Path) -> None:
    out = hand_made.parent / "pairs.jsonl"
    stdout, _ = export(str(hand_made), "--format", "dpo", "--keep", "correct", "--out", str(out))
    assert stdout == f"wrote 4 preference pairs to {out}\n"
    assert [(p["game_id"], p["round"]) for p in read_lines(out)] == [("g1", 1), ("g1", 2), ("g6", 1), ("g6", 2)]
    assert not (hand_made / "export-dpo.jsonl").exists()


def test_sft_winner_rows_have_the_prompt_their_speaker_saw(hand_made: Path) -> None:
    stdout, _ = export(str(hand_made), "--format", "sft", "--role", "debater_b", "--keep", "winner")
    rows = read_lines(hand_made / "export-sft.jsonl")
    assert stdout == f"wrote 6 chat rows to {hand_made / 'export-sft.jsonl'}\n"
    # B won g1, g2 and g6; lost g5; g3 had no usable verdict and g4 failed
    assert [(r["game_id"], r["round"]) for r in rows] == [("g1", 1), ("g1", 2), ("g2", 1), ("g2", 2), ("g6", 1),
                                                          ("g6", 2)]
    assert all(r["role"] == "debater_b" and r["won"] is True and r["kind"] == "argument" for r in rows)
    assert [r["correct"] for r in rows] == [True, True, False, False, True, True]
    # in sequential turns, B has seen A's argument of the same round
    assert rows[1]["messages"] == [
        {"role": "system", "content": SPEAKER_SYSTEM.format(seat="B", protocol="debate")},
        {"role": "user", "content": user(2, 2, [
            "Debater A (round 1, arguing for A): [shown] A1", "Debater B (round 1, arguing for B): [shown] B1",
            "Debater A (round 2, arguing for A): [shown] A2"], argues="You argue for B: In the drawer. ")},
        {"role": "assistant", "content": "B2"},
    ]
    assert {k: rows[1][k] for k in ("protocol", "item_id", "model", "player")} == {
        "protocol": "debate", "item_id": "q1", "model": "scripted/b", "player": None}


def test_sft_keep_filters_by_outcome(hand_made: Path) -> None:
    def kept(*args: str) -> list[tuple[str, str, Any]]:
        export(str(hand_made), "--format", "sft", *args)
        return [(r["game_id"], r["role"], r["round"]) for r in read_lines(hand_made / "export-sft.jsonl")]

    losers = kept("--keep", "loser")
    assert ("g1", "debater_a", 1) in losers and ("g5", "debater_b", 1) in losers
    assert not any(game in ("g3", "g4", "g7") for game, _, _ in losers)  # no verdict, failed, the consultant won
    winners = kept("--keep", "winner")
    assert ("g7", "consultant", 1) in winners and not any(role == "judge" for _, role, _ in winners)
    # correct: speakers that defended the answer, and the judge where its verdict named it
    correct = kept("--keep", "correct")
    assert ("g2", "debater_a", 2) in correct and ("g2", "debater_b", 2) not in correct
    assert [game for game, role, _ in correct if role == "judge"] == ["g1", "g6", "g6", "g7"]  # g6's question too
    # every turn of the six complete games: 8 winning and 8 losing arguments, 2 of g3, 7 of the judge
    assert (len(winners), len(losers), len(kept())) == (8, 8, 25)
    judge_rows = [row for row in read_lines(hand_made / "export-sft.jsonl") if row["role"] == "judge"]
    verdict = next(r for r in judge_rows if r["game_id"] == "g1")
    assert verdict["messages"][0]["content"] == "You are the judge of a game of debate. You have not read the passage."
    assert "Passage:" not in verdict["messages"][1]["content"]
    assert verdict["messages"][1]["content"].endswith(
        "Debater B (round 2, arguing for B): [shown] B2\n\nGive your verdict: which answer is correct?")


def test_simultaneous_speakers_saw_only_earlier_rounds(workdir: Path) -> None:
    task = workdir / "keys.jsonl"
    task.write_text(json.dumps({"id": "q1", "question": QUESTION, "choices": CHOICES[:2], "answer": 1,
                                "passage": PASSAGE}) + "\n")
    write_run(workdir / "run", hand_made_games()[:1], {"task": str(task), "options": {"turns": "simultaneous"}})
    export("run", "--format", "sft", "--role", "debater_b")
    rows = read_lines(workdir / "run" / "export-sft.jsonl")
    argues = "You argue for B: In the drawer. "
    assert [r["messages"][1]["content"] for r in rows] == [
        user(2, 1, [], argues=argues),
        user(2, 2, ["Debater A (round 1, arguing for A): [shown] A1", "Debater B (round 1, arguing for B): [shown] B1"],
             argues=argues),
    ]


def test_without_the_task_rows_leave_the_passage_out_and_say_so(workdir: Path) -> None:
    write_run(workdir / "run", hand_made_games()[:1])  # run.json names no task, and "hand-made" is none
    _, stderr = export("run", "--format", "sft", "--role", "debater_a")
    assert stderr == ("oversight: passages of 1 item not found (task hand-made could not be loaded): "
                      "their prompts leave the passage out\n")
    first = read_lines(workdir / "run" / "export-sft.jsonl")[0]
    assert first["messages"][1]["content"] == user(2, 1, [], passage=False, argues="You argue for A: Under the mat. ")


def test_sft_winners_of_a_scripted_debate(workdir: Path) -> None:
    assert oversight_in_process("run", "debate", "--limit", "2", "--rounds", "2", "--out", "run").returncode == 0
    games = read_lines(workdir / "run" / "transcripts.jsonl")
    stdout, stderr = export("run", "--format", "sft", "--keep", "winner")
    rows = read_lines(workdir / "run" / "export-sft.jsonl")
    expected = [
        (game["game_id"], turn["role"], turn["round"], turn["content"]) for game in games for turn in game["turns"]
        if turn["meta"].get("kind") == "argument" and turn["meta"]["defends"] == game["verdict"]["choice"]
    ]
    assert stdout == f"wrote {len(expected)} chat rows to run/export-sft.jsonl\n" and stderr == ""
    assert [(r["game_id"], r["role"], r["round"], r["messages"][-1]["content"]) for r in rows] == expected
    # the passage is read again from the run's task (the protocol's default, mini-stories)
    passages = {item.id: item.passage for item in oversight.tasks.load_task("mini-stories").items}
    assert all(f"\n\nPassage:\n{passages[r['item_id']]}\n\n" in r["messages"][1]["content"] for r in rows)


def test_sft_of_ida_keeps_the_correct_nodes(workdir: Path) -> None:
    model = "scripted/noisy-oracle?p=0.3"
    assert oversight_in_process("run", "ida", "--limit", "4", "--model", model, "--out", "run").returncode == 0
    records = RunFolder(workdir / "run").records()
    pairs = [p for p in distilled_pairs(records) if not p.get("held_out")]
    exported = workdir / "run" / "export-sft.jsonl"

    export("run", "--format", "sft", "--keep", "correct")
    rows = read_lines(exported)
    assert [{"messages": r["messages"]} for r in rows] == [sft_row(p) for p in pairs if p["correct"] is True]
    assert 0 < len(rows) < len(pairs)  # the noisy oracle got some nodes wrong, and they are left out
    assert all(r["correct"] is True and r["kind"] == "distilled" and r["protocol"] == "ida" for r in rows)
    # without --keep: the run's own distilled rows
    export("run", "--format", "sft")
    own = read_lines(workdir / "run" / "distilled-1.jsonl")
    assert [{"messages": r["messages"]} for r in read_lines(exported)] == own

    # one role's calls, each with its node's question, kept when the node was right
    export("run", "--format", "sft", "--role", "answerer", "--keep", "correct")
    rows = read_lines(exported)
    nodes = {(r.game_id, n["id"]): n for r in records for n in r.meta["tree"]}
    calls = [(r.game_id, t.meta["node"], t.content) for r in records for t in r.turns
             if t.role == "answerer" and nodes[(r.game_id, t.meta["node"])]["correct"] is True]
    assert [(r["game_id"], r["node"], r["messages"][-1]["content"]) for r in rows] == calls
    assert rows and all(r["role"] == "answerer" and r["correct"] is True for r in rows)
    question = nodes[(rows[0]["game_id"], rows[0]["node"])]["question"]
    assert rows[0]["messages"][:2] == [
        {"role": "system", "content": "Answer the question."},
        {"role": "user", "content": f"Question: {question}\n\nReply with one line: ANSWER: followed by the answer."},
    ]
    result = oversight_in_process("export", "run", "--format", "sft", "--keep", "winner")
    assert (result.returncode, result.stderr) == (2, "oversight: error: run: nothing to export as sft: ida has no "
                                                     "winner: a tree's answers are kept by --keep correct or all\n")


def test_csv_has_a_row_per_game_with_the_columns_of_load_run(workdir: Path) -> None:
    config = scripted_tournament("t", 2, ["debate", "consultancy"], {"reader": "scripted/judge"})
    (workdir / "t.toml").write_text(config)
    assert oversight_in_process("tournament", "t.toml", "--out", "t").returncode == 0
    stdout, _ = export("t", "--format", "csv")
    games = oversight.load_run("t")
    assert stdout == f"wrote {len(games)} games to t/export-games.csv\n"
    with open(workdir / "t" / "export-games.csv", newline="", encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == list(games.columns)
    table = pd.read_csv(workdir / "t" / "export-games.csv")
    wanted = {"protocol", "item_id", "seat_A", "seat_B", "seat_consultant", "verdict_choice", "correct",
              "verdict_p0", "verdict_p1", "prompt_tokens", "completion_tokens", "player_debater_a",
              "player_debater_b", "player_consultant", "player_judge", "role_judge"}
    assert wanted <= set(table.columns) and len(table) == len(games) == 16

    def values(column: pd.Series) -> list[Any]:
        return [None if pd.isna(v) else v for v in column]

    for column in sorted(wanted):
        assert values(table[column]) == values(games[column]), column
    raw = read_lines(workdir / "t" / "transcripts.jsonl")
    assert table.prompt_tokens.tolist() == [sum(c["usage"]["prompt_tokens"] for c in r["calls"]) for r in raw]
    assert set(table.player_judge) == {"reader"} and set(table.protocol) == {"debate", "consultancy"}
    assert pd.to_datetime(table.started_at, utc=True).tolist() == games.started_at.tolist()


def test_csv_keeps_failed_games(hand_made: Path) -> None:
    export(str(hand_made), "--format", "csv", "--out", "games.csv")
    table = pd.read_csv("games.csv")
    assert table.game_id.tolist() == ["g1", "g2", "g3", "g4", "g5", "g6", "g7"]
    failed = table.set_index("game_id").loc["g4"]
    assert failed.status == "failed" and failed.error == "refused" and pd.isna(failed.correct)


@pytest.mark.parametrize(("args", "message"), [
    (("nowhere", "--format", "sft"), "nowhere: not a run folder (no run.json)"),
    (("run", "--format", "xml"), "Invalid value for '--format': 'xml' is not one of 'sft', 'dpo', 'csv'. "
                                 "(see 'oversight export --help')"),
    (("run", "--format", "sft", "--keep", "best"), "Invalid value for '--keep': 'best' is not one of 'winner', "
                                                   "'loser', 'correct', 'all'. (see 'oversight export --help')"),
    (("run", "--format", "sft", "--role", "critic"),
     "run: no role 'critic' in its games (roles: debater_a, debater_b, judge, debater_c, consultant)"),
    (("run", "--format", "dpo", "--role", "debater_a"),
     "--role chooses sft rows; a dpo pair sets two speakers' turns against each other"),
    (("run", "--format", "dpo", "--keep", "winner"),
     "--keep winner: a dpo pair is always the preferred turn against the rejected one; use --keep correct or all"),
    (("run", "--format", "csv", "--role", "judge"),
     "--role and --keep choose the rows of sft and dpo exports; csv has one row per game"),
    (("run", "--format", "sft", "--role", "judge", "--keep", "winner"),
     "run: nothing to export as sft: the judge takes no side: --keep winner selects speakers' turns"),
])
def test_bad_input_is_one_line_and_exit_2(hand_made: Path, args: tuple[str, ...], message: str) -> None:
    result = oversight_in_process("export", *args)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", f"oversight: error: {message}\n")
    assert not [p.name for p in hand_made.iterdir() if "export" in p.name]  # nothing written, not even in part


def test_a_run_without_pairs_says_so(workdir: Path) -> None:
    write_run(workdir / "run", hand_made_games()[-1:])  # the consultancy only
    result = oversight_in_process("export", "run", "--format", "dpo")
    assert (result.returncode, result.stderr) == (2, "oversight: error: run: nothing to export as dpo: consultancy "
                                                     "has one speaker: no two arguments of a round to compare\n")
    assert not (workdir / "run" / "export-dpo.jsonl").exists()
