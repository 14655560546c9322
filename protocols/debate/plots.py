"""The debate family's plots: win rate by seat and by truth side, from the figures :mod:`.metrics` wrote."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from oversight.protocols.debate.metrics import DebateMetrics, SeatRow, SideRow
from pydantic import ValidationError

from oversight.plots import PlotSpec, Series
from oversight.scoring import wilson_interval

#: how a truth side is named on the plot
SIDE_LABELS = {"correct": "defending the correct answer", "incorrect": "defending an incorrect answer"}


def _series(label: str, rows: Sequence[SeatRow | SideRow], names: Sequence[str]) -> Series:
    """Win rates with their 95% Wilson intervals; rows without a judged game are left out."""
    kept = [(row, name) for row, name in zip(rows, names, strict=True) if row.win_rate is not None and row.games]
    intervals = []
    for row, _ in kept:
        # the metrics keep the rate; the wins are that share of the games, a whole number
        ci = wilson_interval(round((row.win_rate or 0.0) * row.games), row.games)
        intervals.append((ci.low, ci.high) if ci else None)
    return Series(
        label=label,
        x=[name for _, name in kept],
        y=[row.win_rate for row, _ in kept],
        intervals=intervals,
        counts=[row.games for row, _ in kept],
    )


def debate_plots(metrics: Mapping[str, Any], seat_name: Callable[[str], str]) -> list[PlotSpec]:
    """Win rate by seat (each named by ``seat_name``, as the tables name it) and by truth side, for the protocols
    whose games have speakers; none for a summary in another shape of the figures."""
    try:
        figures = DebateMetrics.model_validate(metrics)
    except ValidationError:
        return []
    plots = []
    if figures.win_rate_by_seat:
        seats = figures.win_rate_by_seat
        plots.append(
            PlotSpec(
                key="win-rate-by-seat",
                title="Win rate by seat",
                x_label="speaker",
                y_label="games the judge chose their answer",
                series=[_series("win rate", seats, [seat_name(row.seat) for row in seats])],
                note=(
                    "Share of judged games in which the judge chose the answer defended from each seat, with 95% "
                    "Wilson intervals and the number of games; every item is played in every seating, so a seat "
                    "that wins more often than the others points to a judge favouring a position."
                ),
            )
        )
    if figures.by_side:
        sides = figures.by_side
        plots.append(
            PlotSpec(
                key="win-rate-by-side",
                title="Win rate by truth side",
                x_label="speakers",
                y_label="games the judge chose their answer",
                series=[_series("win rate", sides, [SIDE_LABELS.get(row.side, row.side) for row in sides])],
                note=(
                    "Share of the speakers' seats in judged games whose answer the judge chose, for speakers "
                    "defending the correct answer and those defending an incorrect one, with 95% Wilson intervals "
                    "and the number of seats: the wider the gap, the better the protocol lets the truth win."
                ),
            )
        )
    return plots
