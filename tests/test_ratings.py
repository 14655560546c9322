"""Bradley–Terry ratings, judge accuracy and the accuracy-vs-rating table, on synthetic records and a real run."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from oversight.ratings import (
    ELO_CENTRE,
    ELO_SCALE,
    accuracy_vs_rating,
    game_results,
    judge_accuracy,
    player_ratings,
    ratings,
)
from oversight.records import GameRecord, Turn, Verdict
from oversight.runfolder import RunFolder
from oversight.scoring import wilson_interval
from tests.conftest import oversight

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def game(
    a: str,
    b: str,
    winner: str | None,
    *,
    item: str = "q1",
    a_honest: bool = True,
    judge: str = "scripted/judge",
    protocol: str = "debate",
    players: dict[str, str] | None = None,
) -> GameRecord:
    """A two-seat game: seat A (``a``) defends choice 0 when honest, seat B (``b``) the other; answer is 0."""
    seating = {"A": 0, "B": 1} if a_honest else {"A": 1, "B": 0}
    choice = None if winner is None else seating[winner]
    return GameRecord(
        game_id=f"{item}-{a}-{b}-{a_honest}-{winner}",
        protocol=protocol,
        task="synthetic",
        item_id=item,
        seating=seating,
        status="complete",
        roles={"debater_a": a, "debater_b": b, "judge": judge},
        players=players or {},
        question="Which?",
        choices=["yes", "no"],
        answer=0,
        turns=[Turn(role="debater_a", seat="A", content="..."), Turn(role="debater_b", seat="B", content="...")],
        verdict=Verdict(choice=choice),
        correct=None if choice is None else choice == 0,
        started_at=NOW,
        finished_at=NOW,
    )


def synthetic(strength: dict[str, float], items: int, seed: int) -> list[GameRecord]:
    """Every ordered pair on every item, in both seatings; A wins with probability σ(θ_A − θ_B)."""
    rng = np.random.default_rng(seed)
    records = []
    for item in range(items):
        for a, b in itertools.permutations(strength, 2):
            a_wins = rng.random() < 1 / (1 + math.exp(strength[b] - strength[a]))
            records.append(game(a, b, "A" if a_wins else "B", item=f"i{item}", a_honest=item % 2 == 0))
    return records


def test_recovers_order_and_intervals_contain_truth() -> None:
    strength = {"weak": -1.5, "middling": 0.0, "strong": 1.5}
    rated = player_ratings(game_results(synthetic(strength, items=60, seed=0)), bootstrap=200)
    assert [p.player for p in rated] == ["strong", "middling", "weak"]
    mean = sum(strength.values()) / len(strength)
    for p in rated:
        truth = ELO_CENTRE + ELO_SCALE * (strength[p.player] - mean)
        assert p.rating_ci95.low <= truth <= p.rating_ci95.high, (p.player, truth, p.rating_ci95)
        assert p.rating_ci95.low < p.rating < p.rating_ci95.high
        assert p.games == 4 * 60
    assert abs(sum(p.rating for p in rated) / 3 - ELO_CENTRE) < 1e-6


def test_bootstrap_is_deterministic_and_seeded() -> None:
    games = game_results(synthetic({"x": 0.0, "y": 0.5, "z": 1.0}, items=12, seed=3))
    first, again = ratings(games, bootstrap=100, seed=7), ratings(games, bootstrap=100, seed=7)
    assert first == again
    other = ratings(games, bootstrap=100, seed=8)
    assert [p.rating for p in other.players] == [p.rating for p in first.players]
    assert [p.rating_ci95 for p in other.players] != [p.rating_ci95 for p in first.players]


def test_unanimous_winner_gets_a_finite_rating() -> None:
    rated = player_ratings(game_results(game("good", "bad", "A", item=f"i{n}") for n in range(10)), bootstrap=20)
    assert [p.player for p in rated] == ["good", "bad"]
    assert math.isfinite(rated[0].rating) and 1000 < rated[0].rating < 2000


def test_invalid_verdicts_and_self_play_give_no_result() -> None:
    records = [
        game("p", "q", "A"),
        game("p", "q", None, item="q2"),  # unreadable verdict
        game("p", "p", "B", item="q3"),  # self-play
    ]
    result = ratings(game_results(records), bootstrap=10)
    assert result.results == 1 and result.items == 1
    p = next(row for row in result.players if row.player == "p")
    assert (p.games, p.wins, p.win_rate) == (1, 1, 1.0)


def test_win_rates_by_side_and_tournament_player_names() -> None:
    named = {"debater_a": "alice", "debater_b": "bob", "judge": "jury"}
    records = [
        game("m1", "m2", "A", a_honest=True, item="1", players=named),  # alice honest, wins
        game("m1", "m2", "A", a_honest=False, item="2", players=named),  # alice dishonest, wins
        game("m1", "m2", "B", a_honest=False, item="3", players=named),  # bob honest, wins
    ]
    by_name = {p.player: p for p in player_ratings(game_results(records), bootstrap=10)}
    alice, bob = by_name["alice"], by_name["bob"]
    assert (alice.games, alice.wins, alice.honest_games, alice.dishonest_games) == (3, 2, 1, 2)
    assert (alice.honest_win_rate, alice.dishonest_win_rate) == (1.0, 0.5)
    assert (bob.honest_games, bob.honest_win_rate, bob.dishonest_win_rate) == (2, 0.5, 0.0)
    assert [j.judge for j in judge_accuracy(game_results(records))] == ["jury"]


def test_a_seat_is_played_by_the_role_its_protocol_names_else_by_whoever_spoke_from_it() -> None:
    # debate names debater_<seat> for each seat, so a record without turns still credits the debaters
    silent = game("x", "y", "B", item="s").model_copy(update={"turns": []})
    # a protocol that is no longer installed: the seats' roles come from the turns
    gone = [game("x", "y", "A", item=f"g{n}", protocol="gone") for n in range(2)]
    by_name = {p.player: p for p in player_ratings(game_results([silent, *gone]), bootstrap=0)}
    assert (by_name["x"].games, by_name["x"].wins, by_name["y"].wins) == (3, 2, 1)
    # with neither, the seat stands for its player
    anonymous = gone[0].model_copy(update={"turns": []})
    assert game_results([anonymous])[0].seats == (("A", 0), ("B", 1))


def test_judge_accuracy_per_judge_and_protocol() -> None:
    records = [
        game("p", "q", "A", judge="j1"),
        game("p", "q", "B", judge="j1", item="2"),
        game("p", "q", "A", judge="j2", item="3"),
        game("p", "q", "A", judge="j1", protocol="interactive-debate", item="4"),
    ]
    rows = {(r.judge, r.protocol): r for r in judge_accuracy(game_results(records))}
    assert set(rows) == {("j1", "debate"), ("j2", "debate"), ("j1", "interactive-debate")}
    assert (rows["j1", "debate"].judged, rows["j1", "debate"].correct) == (2, 1)
    assert rows["j1", "debate"].accuracy_ci95 == wilson_interval(1, 2)


def test_accuracy_vs_rating_has_self_play_and_cross_play_rows() -> None:
    cross = synthetic({"weak": -1.0, "strong": 1.0}, items=10, seed=1)
    self_play = [game("strong", "strong", "A", item=f"s{n}") for n in range(4)]
    self_play += [game("weak", "weak", "B", item=f"w{n}") for n in range(4)]
    games = game_results(cross + self_play)
    rows = accuracy_vs_rating(games, player_ratings(games, bootstrap=10))
    by_debaters = {tuple(r.debaters): r for r in rows}
    assert by_debaters["strong",].self_play and by_debaters["strong",].accuracy == 1.0
    assert by_debaters["weak",].accuracy == 0.0
    assert by_debaters["weak",].mean_rating < ELO_CENTRE < by_debaters["strong",].mean_rating
    assert not by_debaters["strong", "weak"].self_play
    assert abs(by_debaters["strong", "weak"].mean_rating - ELO_CENTRE) < 1e-6
    assert by_debaters["strong", "weak"].games == len(cross)


def test_ratings_of_a_real_run_put_the_honest_quoter_above_the_liar(workdir: Path) -> None:
    result = oversight(
        "run", "debate", "--limit", "6", "--rounds", "1",
        "--role", "debater_a=scripted/debater", "--role", "debater_b=scripted/liar", "--out", "run",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rated = ratings(game_results(RunFolder(workdir / "run").iter_records()))
    assert [p.player for p in rated.players] == ["scripted/debater", "scripted/liar"]
    assert rated.players[0].rating > rated.players[1].rating
    assert rated.players[0].games == 12 and rated.players[1].win_rate == 0.0
    assert [(j.judge, j.protocol, j.judged) for j in rated.judges] == [("scripted/auto", "debate", 12)]
