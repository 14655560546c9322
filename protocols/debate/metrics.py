"""Figures for the debate family: calibration, win rates by seat and by truth side, quote verification."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from oversight.calibration import brier_score, expected_calibration_error, log_score
from oversight.records import GameRecord
from oversight.scoring import rate


def _count(tally: list[int], won: bool) -> None:
    tally[0] += 1
    tally[1] += won


def debate_metrics(records: Iterable[GameRecord]) -> dict[str, Any]:
    """One pass over the records (a list or a stream); per game only the verdict's probabilities are kept,
    which the calibration scores need all together."""
    judged = invalid = 0
    chosen: list[float] = []
    on_correct: list[float] = []
    hits: list[bool] = []
    #: seat or side → [games, games won]
    seat_games: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    side_games: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    #: side → [quotes, verified quotes]
    side_quotes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    #: [open-protocol choices, choices of the correct answer]
    chose = [0, 0]
    for record in records:
        verdict = record.verdict
        if record.status != "complete" or verdict is None or not isinstance(record.answer, int):
            continue
        judged += 1
        invalid += not verdict.valid
        if verdict.choice is not None and verdict.probabilities:
            chosen.append(verdict.probabilities[verdict.choice])
            on_correct.append(verdict.probabilities[record.answer])
            hits.append(verdict.choice == record.answer)
        for seat, defended in record.seating.items():
            won = verdict.choice == defended
            _count(seat_games[seat], won)
            _count(side_games["correct" if defended == record.answer else "incorrect"], won)
        for turn in record.turns:
            if turn.meta.get("kind") == "argument":
                counts = side_quotes[turn.meta["side"]]
                counts[0] += len(turn.meta["quotes"])
                counts[1] += sum(1 for q in turn.meta["quotes"] if q["verified"])
            elif turn.meta.get("kind") == "choice":
                _count(chose, bool(turn.meta["chose_correct"]))
    metrics: dict[str, Any] = {
        "judged": judged,
        "invalid_verdicts": invalid,
        "with_probabilities": len(chosen),
        "ece_10_bins": expected_calibration_error(chosen, hits),
        "brier": brier_score(on_correct),
        "log_score": log_score(on_correct),
    }
    if seat_games:
        metrics["win_rate_by_seat"] = [
            {"seat": seat, "games": games, "win_rate": rate(wins, games)}
            for seat, (games, wins) in sorted(seat_games.items())
        ]
    if side_games or side_quotes:
        metrics["by_side"] = [
            {
                "side": side,
                "games": side_games[side][0],
                "win_rate": rate(side_games[side][1], side_games[side][0]),
                "quotes": side_quotes[side][0],
                "verified_rate": rate(side_quotes[side][1], side_quotes[side][0]),
            }
            for side in ("correct", "incorrect")
            if side in side_games or side in side_quotes
        ]
    if chose[0]:
        metrics["chose_correct_rate"] = rate(chose[1], chose[0])
    return metrics
