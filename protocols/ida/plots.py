"""The ``ida`` protocol's plots: amplified against direct by difficulty, tree-node accuracy by depth, and (over two
iterations or more) what distillation did: the learner's direct accuracy on held-out and trained items by
iteration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from oversight.protocols.ida.metrics import (
    Comparison,
    DepthRow,
    DistillationRow,
    IdaMetrics,
)
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


def _distillation(rows: Sequence[DistillationRow]) -> PlotSpec | None:
    """Direct accuracy on held-out and on trained items, and amplified accuracy, by iteration; only over two
    iterations or more (one iteration has distilled nothing yet)."""
    if len(rows) < 2:
        return None
    series = []
    for label, share, ci in (
        ("direct, held-out items", "held_out_direct", "held_out_direct_ci95"),
        ("direct, trained items", "trained_direct", "trained_direct_ci95"),
        ("amplified, all items", "amplified", None),
    ):
        kept = [row for row in rows if getattr(row, share) is not None]
        if kept:
            intervals = [(c[0], c[1]) if ci and (c := getattr(row, ci)) else None for row in kept]
            series.append(Series(label, [row.iteration for row in kept], [getattr(row, share) for row in kept],
                                 intervals))
    if not series:
        return None
    return PlotSpec(
        key="ida-distillation-by-iteration",
        title="Distillation: direct accuracy, held-out vs trained items",
        x_label="iteration (each after distilling the one before)",
        y_label="items answered correctly",
        series=series,
        kind="lines",
        note=(
            "Share of items the learner answered correctly in one call, on items held out of distillation and on "
            "items whose amplified trees it was taught, with 95% Wilson intervals, beside the amplified trees' "
            "accuracy: what distillation taught beyond the items it saw."
        ),
    )


def ida_plots(metrics: Mapping[str, Any]) -> list[PlotSpec]:
    """The protocol's plots; none for a summary in another shape of the figures."""
    try:
        figures = IdaMetrics.model_validate(metrics)
    except ValidationError:
        return []
    plots = (
        _amplified_vs_direct(figures), _node_accuracy(figures.node_accuracy_by_depth),
        _distillation(figures.distillation),
    )
    return [p for p in plots if p]
