"""The ``ida`` protocol's plots: amplified against direct by difficulty, and tree-node accuracy by depth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from oversight.protocols.ida.metrics import Comparison, DepthRow, IdaMetrics
from pydantic import ValidationError

from oversight.plots import PlotSpec, Series
from oversight.scoring import wilson_interval


def _comparison(label: str, rows: Sequence[tuple[Any, Comparison]], mode: str) -> Series:
    """One mode's (``amplified`` or ``direct``) accuracy over the rows, keyed by their x."""
    kept = [(x, row) for x, row in rows if getattr(row, mode) is not None]
    intervals: list[tuple[float, float] | None] = []
    for _, row in kept:
        ci = getattr(row, f"{mode}_ci95")
        intervals.append((ci[0], ci[1]) if ci else None)
    return Series(label=label, x=[x for x, _ in kept], y=[getattr(row, mode) for _, row in kept], intervals=intervals)


def _amplified_vs_direct(figures: IdaMetrics) -> PlotSpec | None:
    """By item difficulty when the task grades its items (one pair of series per iteration), else by iteration."""
    graded = [row for row in figures.amplified_vs_direct if row.difficulty is not None]
    series = []
    if graded:
        iterations = sorted({row.iteration for row in graded})
        for iteration in iterations:
            rows = [(row.difficulty, row) for row in graded if row.iteration == iteration]
            suffix = f", iteration {iteration}" if len(iterations) > 1 else ""
            series += [_comparison(mode + suffix, rows, mode) for mode in ("amplified", "direct")]
        x_label = "item difficulty (1: easiest; see `oversight tasks` for what it means)"
    else:
        rows = [(row.iteration, row) for row in figures.per_iteration]
        series = [_comparison(mode, rows, mode) for mode in ("amplified", "direct")]
        x_label = "iteration"
    series = [s for s in series if s.x]
    if not series:
        return None
    return PlotSpec(
        key="ida-amplified-vs-direct",
        title="Accuracy by difficulty: amplified vs direct",
        x_label=x_label,
        y_label="items answered correctly",
        series=series,
        kind="lines",
        note=(
            "Share of items answered correctly by the amplified tree (the question decomposed into sub-questions, "
            "answered bottom-up) and by the same model answering directly, with 95% Wilson intervals."
        ),
    )


def _node_accuracy(rows: Sequence[DepthRow]) -> PlotSpec | None:
    if not rows:
        return None
    intervals = []
    for row in rows:
        # the metrics keep the share; the correct nodes are that share of the nodes, a whole number
        ci = wilson_interval(round(row.accuracy * row.nodes), row.nodes)
        intervals.append((ci.low, ci.high) if ci else None)
    return PlotSpec(
        key="ida-node-accuracy-by-depth",
        title="Accuracy of tree nodes by depth",
        x_label="depth in the tree (0: the item's own question)",
        y_label="nodes answered correctly",
        series=[Series("tree nodes", [row.depth for row in rows], [row.accuracy for row in rows], intervals)],
        kind="lines",
        note=(
            "Share of the amplified trees' nodes at each depth whose answer was right, where the exact answer is "
            "known (memo hits left out), with 95% Wilson intervals: how errors travel up the tree."
        ),
    )


def ida_plots(metrics: Mapping[str, Any]) -> list[PlotSpec]:
    """The protocol's plots; none for a summary in another shape of the figures."""
    try:
        figures = IdaMetrics.model_validate(metrics)
    except ValidationError:
        return []
    return [p for p in (_amplified_vs_direct(figures), _node_accuracy(figures.node_accuracy_by_depth)) if p]
