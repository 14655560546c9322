"""``oversight compare``: paired accuracy differences between runs, checked against cases worked out by hand and
against pairs rebuilt from real scripted runs."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from oversight.records import GameRecord, RunManifest, Verdict, utc_now
from oversight.runfolder import RunFolder

from .conftest import oversight, oversight_in_process, read_lines, scripted_tournament

DEBATE_SEATING = {"A": 0, "B": 1}


def game(
    item: str,
    correct: bool | None,
    *,
    protocol: str = "debate",
    seating: dict[str, int] | None = None,
    choice_order: list[int] | None = None,
    status: str = "complete",
    roles: dict[str, str] | None = None,
    players: dict[str, str] | None = None,
    meta: dict[str, Any] | None = None,
    item_meta: dict[str, Any] | None = None,
) -> GameRecord:
    """A game of a two-choice item whose answer is choice 1: a correct verdict names 1, a wrong one 0."""
    seating = DEBATE_SEATING if seating is None else seating
    identity = json.dumps([protocol, item, seating, choice_order, players, meta], sort_keys=True)
    failed = status == "failed"
    return GameRecord(
        game_id=hashlib.sha256(identity.encode()).hexdigest()[:16],
        protocol=protocol,
        task="hand-made",
        item_id=item,
        seating=seating,
        status=status,  # type: ignore[arg-type]
        roles=roles or {"debater_a": "scripted/debater", "debater_b": "scripted/liar", "judge": "scripted/judge"},
        players=players or {},
        question=f"question of {item}",
        choices=["wrong", "right"],
        choice_order=choice_order or [],
        answer=1,
        verdict=None if failed or correct is None else Verdict(choice=int(correct), probabilities=[0.25, 0.75]),
        correct=None if failed else correct,
        error="connection refused" if failed else None,
        meta=meta or {},
        item_meta=item_meta or {},
        started_at=utc_now(),
        finished_at=utc_now(),
    )


def write_run(path: Path, records: list[GameRecord]) -> Path:
    """A run folder holding ``records``, as a run writes it: a manifest and one record per line of the log."""
    folder = RunFolder(path)
    path.mkdir(parents=True)
    folder.write_manifest(RunManifest(
        run_id=path.name, command=["oversight", "run"], config={}, config_hash="hand-made", models={},
        package_version="0", python_version="3", seed=0, started_at=utc_now(), ended_at=utc_now(), status="complete",
    ))
    folder.transcripts_path.write_text("".join(record.model_dump_json() + "\n" for record in records))
    return path


def compare_json(*args: str) -> dict[str, Any]:
    result = oversight_in_process("compare", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def without_interval(comparison: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in comparison.items() if key != "ci95"}


@pytest.fixture
def two_debate_runs(workdir: Path) -> tuple[Path, Path]:
    """The same debate games in two runs, one game per item, outcomes chosen by hand:

    item  i1 i2 i3 i4 i5 i6 i7 i8     i9 i10 i11
    A     ✓  ✓  ✓  ✓  ✗  ✗  ✓  ✓      ✓  -   unscored
    B     ✓  ✗  ✗  ✗  ✓  ✗  ✓  failed -  ✗   ✓
    """
    on_a = {"i1": True, "i2": True, "i3": True, "i4": True, "i5": False, "i6": False, "i7": True, "i8": True,
            "i9": True, "i11": None}
    on_b = {"i1": True, "i2": False, "i3": False, "i4": False, "i5": True, "i6": False, "i7": True, "i10": False,
            "i11": True}
    run_a = write_run(workdir / "a", [game(item, correct) for item, correct in on_a.items()])
    run_b = write_run(
        workdir / "b",
        [game(item, correct) for item, correct in on_b.items()] + [game("i8", None, status="failed")],
    )
    return run_a, run_b


def test_two_runs_of_the_same_games_are_paired_game_by_game(two_debate_runs: tuple[Path, Path]) -> None:
    # by hand: i1–i7 pair (i8 failed on B, i11 is unscored on A); A right on 5 of 7, B on 3 of 7;
    # A right and B wrong on i2, i3, i4 (b = 3), A wrong and B right on i5 (c = 1);
    # McNemar: two-sided binomial test of 3 of 4 at 1/2 = P(X ≤ 1) + P(X ≥ 3) = (1 + 4 + 4 + 1) / 16
    report = compare_json("a", "b")
    assert report["by"] == "protocol" and report["seed"] == 0 and report["resamples"] == 10_000
    [comparison] = report["comparisons"]
    assert without_interval(comparison) == {
        "label": "debate",
        "a": {"run": "a", "protocol": "debate", "judge": None, "player": None},
        "b": {"run": "b", "protocol": "debate", "judge": None, "player": None},
        "unit": "game",
        "pairs": 7,
        "accuracy_a": pytest.approx(5 / 7),
        "accuracy_b": pytest.approx(3 / 7),
        "difference": pytest.approx(2 / 7),
        "a_right_b_wrong": 3,
        "a_wrong_b_right": 1,
        "ties": 0,
        "mcnemar_p": pytest.approx(10 / 16),
        "failed_a": 0,
        "failed_b": 1,
        "unscored_a": 1,
        "unscored_b": 0,
        "unpaired_a": 2,  # i8 (its partner failed) and i9 (no partner)
        "unpaired_b": 2,  # i10 (no partner) and i11 (its partner unscored)
        "only_in_a": ["i9"],
        "only_in_b": ["i10"],
    }
    interval = comparison["ci95"]
    assert interval["low"] <= 2 / 7 <= interval["high"] and interval["low"] < interval["high"]


def test_the_bootstrap_interval_is_reproducible_with_its_seed(two_debate_runs: tuple[Path, Path]) -> None:
    first = compare_json("a", "b", "--seed", "7", "--resamples", "2000")
    again = compare_json("a", "b", "--seed", "7", "--resamples", "2000")
    assert first == again
    assert (first["seed"], first["resamples"]) == (7, 2000)


def test_the_table_gives_the_same_figures(two_debate_runs: tuple[Path, Path]) -> None:
    result = oversight_in_process("compare", "a", "b")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "debate: 7 paired games" in out
    assert "71.4%" in out and "42.9%" in out and "A − B: +28.6%" in out
    assert "A right B wrong 3, A wrong B right 1; McNemar exact p = 0.625" in out
    assert "items only in A: i9" in out and "items only in B: i10" in out


def test_games_pair_when_one_side_played_fewer_and_items_pair_when_the_games_differ(workdir: Path) -> None:
    both_seatings = [game("k1", True), game("k1", False, seating={"A": 1, "B": 0}),
                     game("k2", True), game("k2", True, seating={"A": 1, "B": 0})]
    write_run(workdir / "both", both_seatings)
    write_run(workdir / "one", [game("k1", False), game("k2", True)])
    write_run(workdir / "reordered", [game("k1", False), game("k2", True, choice_order=[1, 0])])
    # one seating is among both seatings: k1 and k2 pair game by game, A right on both, B on k2 only
    [fewer] = compare_json("both", "one")["comparisons"]
    assert (fewer["unit"], fewer["pairs"], fewer["unpaired_a"], fewer["unpaired_b"]) == ("game", 2, 2, 0)
    assert (fewer["accuracy_a"], fewer["accuracy_b"], fewer["a_right_b_wrong"], fewer["a_wrong_b_right"]) == (
        1.0, 0.5, 1, 0,
    )
    # k2 was shown in another order: not the same games, so items pair: k1 .5 against 0 (a tie for McNemar),
    # k2 1 against 1
    [other] = compare_json("both", "reordered")["comparisons"]
    assert (other["unit"], other["pairs"], other["ties"], other["mcnemar_p"]) == ("item", 2, 1, 1.0)
    assert (other["accuracy_a"], other["accuracy_b"], other["difference"]) == (0.75, 0.5, 0.25)


@pytest.fixture
def debate_and_consultancy(workdir: Path) -> Path:
    """One run with debate and consultancy on the same six items, two games per item in each:

    item         j1   j2   j3   j4   j5   j6
    debate       ✓✓   ✓✗   ✗✗   ✓✓   ✓✓   ✓✓
    consultancy  ✓✗   ✗✗   ✓✓   ✗✗   ✗✗   ✗✗
    """
    debate = {"j1": (True, True), "j2": (True, False), "j3": (False, False), "j4": (True, True),
              "j5": (True, True), "j6": (True, True)}
    consultancy = {"j1": (True, False), "j2": (False, False), "j3": (True, True), "j4": (False, False),
                   "j5": (False, False), "j6": (False, False)}
    records = []
    for item, (first, second) in debate.items():
        records += [game(item, first, seating={"A": 0, "B": 1}), game(item, second, seating={"A": 1, "B": 0})]
    consultant = {"consultant": "scripted/debater", "judge": "scripted/judge"}
    for item, (first, second) in consultancy.items():
        records += [
            game(item, first, protocol="consultancy", seating={"consultant": 0}, roles=consultant),
            game(item, second, protocol="consultancy", seating={"consultant": 1}, roles=consultant),
        ]
    return write_run(workdir / "both", records)


def test_protocols_with_different_seatings_are_paired_item_by_item(debate_and_consultancy: Path) -> None:
    # by hand, an item's outcome is the mean over its games: debate 1, .5, 0, 1, 1, 1 (mean .75), consultancy
    # .5, 0, 1, 0, 0, 0 (mean .25). For McNemar j1 and j2 are ties (an even split on one side); debate right and
    # consultancy wrong on j4, j5, j6 (b = 3), the reverse on j3 (c = 1): p = 10/16 as above
    [comparison] = compare_json("both:debate", "both:consultancy")["comparisons"]
    assert without_interval(comparison) == {
        "label": "debate vs consultancy",
        "a": {"run": "both", "protocol": "debate", "judge": None, "player": None},
        "b": {"run": "both", "protocol": "consultancy", "judge": None, "player": None},
        "unit": "item",
        "pairs": 6,
        "accuracy_a": pytest.approx(0.75),
        "accuracy_b": pytest.approx(0.25),
        "difference": pytest.approx(0.5),
        "a_right_b_wrong": 3,
        "a_wrong_b_right": 1,
        "ties": 2,
        "mcnemar_p": pytest.approx(10 / 16),
        "failed_a": 0, "failed_b": 0, "unscored_a": 0, "unscored_b": 0, "unpaired_a": 0, "unpaired_b": 0,
        "only_in_a": [], "only_in_b": [],
    }
    assert comparison["ci95"]["low"] <= 0.5 <= comparison["ci95"]["high"]


def test_one_run_compares_its_protocols_in_name_order(debate_and_consultancy: Path) -> None:
    [comparison] = compare_json("both")["comparisons"]
    assert comparison["label"] == "consultancy vs debate"
    assert comparison["difference"] == pytest.approx(-0.5)
    assert (comparison["a_right_b_wrong"], comparison["a_wrong_b_right"]) == (1, 3)


TWO_JUDGES = scripted_tournament("two-judges", 2, ["debate", "consultancy"],
                                 {"reader": "scripted/judge", "first": "scripted/first"})


def _discordant(pairs: list[tuple[bool, bool]]) -> tuple[int, int]:
    return sum(a and not b for a, b in pairs), sum(b and not a for a, b in pairs)


@pytest.fixture
def tournament(workdir: Path) -> list[dict[str, Any]]:
    (workdir / "two-judges.toml").write_text(TWO_JUDGES)
    result = oversight("tournament", "two-judges.toml", "--out", "demo")
    assert result.returncode == 0, result.stderr
    return read_lines(workdir / "demo" / "transcripts.jsonl")


def test_judges_of_one_tournament_are_paired_on_the_same_games(tournament: list[dict[str, Any]]) -> None:
    # the same game in front of each judge: the same item, seating, choice order and debaters
    by_game: dict[tuple[str, ...], dict[str, bool]] = defaultdict(dict)
    for record in tournament:
        debaters = json.dumps({r: p for r, p in record["players"].items() if r != "judge"}, sort_keys=True)
        shown = json.dumps([record["seating"], record["choice_order"]], sort_keys=True)
        key = (record["protocol"], record["item_id"], shown, debaters)
        by_game[key][record["players"]["judge"]] = record["correct"]
    comparisons = compare_json("demo", "--by", "judge")["comparisons"]
    assert [c["label"] for c in comparisons] == ["consultancy: first vs reader", "debate: first vs reader"]
    for comparison in comparisons:
        protocol = comparison["a"]["protocol"]
        pairs = [(j["first"], j["reader"]) for key, j in by_game.items() if key[0] == protocol]
        assert comparison["unit"] == "game" and comparison["pairs"] == len(pairs) == 8
        assert (comparison["a"]["judge"], comparison["b"]["judge"]) == ("first", "reader")
        assert comparison["accuracy_a"] == pytest.approx(sum(a for a, _ in pairs) / len(pairs))
        assert comparison["accuracy_b"] == pytest.approx(sum(b for _, b in pairs) / len(pairs))
        assert (comparison["a_right_b_wrong"], comparison["a_wrong_b_right"]) == _discordant(pairs)


def test_players_of_one_tournament_are_paired_on_the_same_seatings(tournament: list[dict[str, Any]]) -> None:
    # the same game with each consultant: the same item, seating, choice order and judge
    comparisons = compare_json("demo", "--by", "player")["comparisons"]
    consultancy = next(c for c in comparisons if c["a"]["protocol"] == "consultancy")
    assert (consultancy["a"]["player"], consultancy["b"]["player"]) == ("consultant=inventor", "consultant=quoter")
    records = [r for r in tournament if r["protocol"] == "consultancy"]
    by_game: dict[tuple[str, ...], dict[str, bool]] = defaultdict(dict)
    for record in records:
        key = (record["item_id"], str(record["seating"]), str(record["choice_order"]), record["players"]["judge"])
        by_game[key][record["players"]["consultant"]] = record["correct"]
    pairs = [(outcomes["inventor"], outcomes["quoter"]) for outcomes in by_game.values()]
    assert consultancy["unit"] == "game" and consultancy["pairs"] == len(pairs) == 8
    assert (consultancy["a_right_b_wrong"], consultancy["a_wrong_b_right"]) == _discordant(pairs)


def test_a_re_judged_run_pairs_with_the_games_it_judged_again(workdir: Path, tournament: list[dict[str, Any]]) -> None:
    result = oversight("judge", "demo", "--judge", "scripted/first", "--out", "again")
    assert result.returncode == 0, result.stderr
    original = {r["game_id"]: r for r in tournament}
    judged = read_lines(workdir / "again" / "transcripts.jsonl")
    comparisons = compare_json("demo", "again")["comparisons"]
    assert [c["label"] for c in comparisons] == ["consultancy", "debate"]
    for comparison in comparisons:
        protocol = comparison["label"]
        pairs = [
            (original[r["meta"]["source_game"]]["correct"], r["correct"]) for r in judged if r["protocol"] == protocol
        ]
        assert comparison["unit"] == "game" and comparison["pairs"] == len(pairs) == 16
        assert comparison["accuracy_a"] == pytest.approx(sum(a for a, _ in pairs) / len(pairs))
        assert comparison["accuracy_b"] == pytest.approx(sum(b for _, b in pairs) / len(pairs))
        assert (comparison["a_right_b_wrong"], comparison["a_wrong_b_right"]) == _discordant(pairs)
        assert comparison["only_in_a"] == comparison["only_in_b"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nowhere", "a"), "nowhere: not a run folder"),
        (("a",), "a: one protocol (debate), nothing to compare it with; give a second run"),
        (("a:debait", "b"), "a: no games of protocol 'debait' (it has debate)"),
        (("a", "b", "a"), "give one or two runs, not 3"),
        (("a", "b", "--by", "judge"), "--by judge splits one run"),
        (("a", "--by", "judge"), "a: no protocol has games of two different judges"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    two_debate_runs: tuple[Path, Path], args: tuple[str, ...], message: str
) -> None:
    result = oversight_in_process("compare", *args)
    assert result.returncode == 2
    assert result.stderr.startswith("oversight: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not result.stdout


def test_debate_against_consultancy_in_two_scripted_runs(workdir: Path) -> None:
    # the scripted debaters always let the judge find the answer; the lone scripted consultant wins whichever side
    # it argues, so each item's two consultancy games split one right, one wrong: a tie for McNemar
    for protocol in ("debate", "consultancy"):
        assert oversight_in_process("run", protocol, "--limit", "3", "--out", protocol).returncode == 0
    [comparison] = compare_json("debate", "consultancy")["comparisons"]
    assert comparison["label"] == "debate vs consultancy" and comparison["unit"] == "item"
    assert comparison["pairs"] == 3 and comparison["ties"] == 3
    assert (comparison["accuracy_a"], comparison["accuracy_b"], comparison["difference"]) == (1.0, 0.5, 0.5)
    assert (comparison["a_right_b_wrong"], comparison["a_wrong_b_right"], comparison["mcnemar_p"]) == (0, 0, 1.0)
