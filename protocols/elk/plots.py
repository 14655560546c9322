"""The ``elk`` protocol's plot: how many builders have survived by each round, from the figures of :mod:`.metrics`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oversight.protocols.elk.metrics import ElkMetrics
from pydantic import ValidationError

from oversight.plots import PlotSpec, Series
from oversight.scoring import wilson_interval


def elk_plots(metrics: Mapping[str, Any]) -> list[PlotSpec]:
    """Builder survival by round; none for a summary in another shape of the figures."""
    try:
        figures = ElkMetrics.model_validate(metrics)
    except ValidationError:
        return []
    games = figures.by_game
    if not games:
        return []
    # a game ends in the round its builder survives; a breaker's win runs to the last round (or to a missing
    # proposal), so "survived by round r" is the builder's wins that ended at or before r
    last = max(game.rounds for game in games)
    rounds = list(range(1, last + 1))
    survived = [sum(game.winner == "builder" and game.rounds <= r for game in games) for r in rounds]
    intervals = []
    for count in survived:
        ci = wilson_interval(count, len(games))
        intervals.append((ci.low, ci.high) if ci else None)
    series = Series("builders", rounds, [count / len(games) for count in survived], intervals)
    return [
        PlotSpec(
            key="elk-builder-survival",
            title="Builder survival by round",
            x_label="round",
            y_label="games the builder has survived",
            series=[series],
            kind="lines",
            note=(
                f"Share of the {len(games)} complete games in which the builder has survived by each round — made a "
                "proposal the breaker found no valid counterexample to — with 95% Wilson intervals. A game the "
                "builder survives ends in that round; the breaker wins by breaking every round's proposal."
            ),
        )
    ]
