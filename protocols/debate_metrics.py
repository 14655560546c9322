"""Figures for the debate family: calibration, win rates by seat and by truth side, quote verification."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from oversight.calibration import brier_score, expected_calibration_error, log_score
from oversight.records import GameRecord
from oversight.scoring import rate


def debate_metrics(records: Sequence[GameRecord]) -> dict[str, Any]:
    complete = [r for r in records if r.status == "complete" and r.verdict is not None and isinstance(r.answer, int)]
    chosen: list[float] = []
    on_correct: list[float] = []
    hits: list[bool] = []
    for record in complete:
        verdict = record.verdict
        if verdict is None or verdict.choice is None or not verdict.probabilities:
            continue
        chosen.append(verdict.probabilities[verdict.choice])
        on_correct.append(verdict.probabilities[int(record.answer)])  # type: ignore[arg-type]
        hits.append(verdict.choice == record.answer)
    metrics: dict[str, Any] = {
        "judged": len(complete),
        "invalid_verdicts": sum(1 for r in complete if r.verdict and not r.verdict.valid),
        "with_probabilities": len(chosen),
        "ece_10_bins": expected_calibration_error(chosen, hits),
        "brier": brier_score(on_correct),
        "log_score": log_score(on_correct),
    }

    seat_games: dict[str, list[bool]] = defaultdict(list)
    side_games: dict[str, list[bool]] = defaultdict(list)
    side_quotes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    chose = [t.meta["chose_correct"] for r in complete for t in r.turns if t.meta.get("kind") == "choice"]
    for record in complete:
        choice = record.verdict.choice if record.verdict else None
        for seat, defended in record.seating.items():
            won = choice == defended
            seat_games[seat].append(won)
            side_games["correct" if defended == record.answer else "incorrect"].append(won)
        for turn in record.turns:
            if turn.meta.get("kind") == "argument":
                counts = side_quotes[turn.meta["side"]]
                counts[0] += len(turn.meta["quotes"])
                counts[1] += sum(1 for q in turn.meta["quotes"] if q["verified"])
    if seat_games:
        metrics["win_rate_by_seat"] = [
            {"seat": seat, "games": len(wins), "win_rate": rate(sum(wins), len(wins))}
            for seat, wins in sorted(seat_games.items())
        ]
    if side_games or side_quotes:
        metrics["by_side"] = [
            {
                "side": side,
                "games": len(side_games[side]),
                "win_rate": rate(sum(side_games[side]), len(side_games[side])),
                "quotes": side_quotes[side][0],
                "verified_rate": rate(side_quotes[side][1], side_quotes[side][0]),
            }
            for side in ("correct", "incorrect")
            if side in side_games or side in side_quotes
        ]
    if chose:
        metrics["chose_correct_rate"] = rate(sum(bool(c) for c in chose), len(chose))
    return metrics
