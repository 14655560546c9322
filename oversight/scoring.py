"""From game records to a run summary: counts, judge accuracy with a 95% interval, token usage.

Accuracy is also split by the items' metadata (``GameRecord.item_meta``): every key whose values across the run
are 2 to 8 distinct scalars (bool, number or string) gets a summary per value and protocol, e.g. QuALITY's
``difficult`` 0 / 1. Games whose item lacks the key, or has null, are left out of that key's split. All of it is
counted in one pass over the records.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from oversight.records import (
    GameRecord,
    Interval,
    ProtocolSummary,
    RunSummary,
    UsageTotals,
)


def rate(hits: int, total: int) -> float | None:
    """A share, or None when there is nothing to share out."""
    return hits / total if total else None


def wilson_interval(successes: int, trials: int) -> Interval | None:
    """The 95% Wilson score interval of a success rate, or None when there were no trials."""
    if trials == 0:
        return None
    from scipy.stats import (
        binomtest,  # here, not above: it takes a second to import, and `oversight show` needs none
    )

    ci = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    return Interval(low=float(ci.low), high=float(ci.high))


def auroc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """The area under the ROC curve of scores that should rank ``positives`` above ``negatives``: the share of
    (positive, negative) pairs ranked right, ties counting half; None when either side is empty."""
    if not positives or not negatives:
        return None
    right = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return right / (len(positives) * len(negatives))


def auroc_interval(area: float, positives: int, negatives: int) -> Interval:
    """A 95% interval for an AUROC from Hanley and McNeil's (1982) standard error, clipped to [0, 1]."""
    q1, q2 = area / (2 - area), 2 * area**2 / (1 + area)
    variance = (
        area * (1 - area) + (positives - 1) * (q1 - area**2) + (negatives - 1) * (q2 - area**2)
    ) / (positives * negatives)
    half = 1.959964 * math.sqrt(max(variance, 0.0))
    return Interval(low=max(0.0, area - half), high=min(1.0, area + half))


def _tally(summary: ProtocolSummary, record: GameRecord) -> None:
    """Count one game in; :func:`_finish` fills in the accuracy once every game is counted."""
    summary.games += 1
    if record.status == "failed":
        summary.failed += 1
        return
    summary.complete += 1
    if record.correct is None:
        return
    summary.judged += 1
    summary.correct += int(record.correct)
    verdict = record.verdict
    if verdict is not None and not verdict.valid:
        summary.invalid_verdicts += 1
    elif not record.correct:
        summary.wrong += 1
    if verdict is not None:
        summary.belief_disagrees += int(verdict.belief_disagrees)
        summary.ties_broken += int(verdict.tie_broken)


def _finish(summary: ProtocolSummary) -> ProtocolSummary:
    if summary.judged:
        summary.accuracy = summary.correct / summary.judged
        summary.accuracy_ci95 = wilson_interval(summary.correct, summary.judged)
    return summary


Scalar = bool | int | float | str

#: how many distinct values a metadata key may take to split the summary
SPLIT_VALUES = range(2, 9)


class _MetaSplits:
    """Summaries by item metadata value and protocol, counted game by game.

    A key is dropped as soon as it takes a value that is not a scalar or more distinct values than a split may
    have, so what is kept stays small however long the run.
    """

    def __init__(self) -> None:
        #: key → value label → the value itself (for ordering)
        self.values: dict[str, dict[str, Scalar]] = {}
        self.cells: dict[str, dict[str, dict[str, ProtocolSummary]]] = {}
        self.dropped: set[str] = set()

    def _drop(self, key: str) -> None:
        self.dropped.add(key)
        self.values.pop(key, None)
        self.cells.pop(key, None)

    def add(self, record: GameRecord, group: str) -> None:
        for key, value in record.item_meta.items():
            if key in self.dropped or value is None:
                continue
            if not isinstance(value, Scalar):
                self._drop(key)
                continue
            label = value if isinstance(value, str) else json.dumps(value)
            seen = self.values.setdefault(key, {})
            if label not in seen and len(seen) == SPLIT_VALUES[-1]:
                self._drop(key)
                continue
            seen[label] = value
            cell = self.cells.setdefault(key, {}).setdefault(label, {})
            _tally(cell.setdefault(group, ProtocolSummary()), record)

    def result(self) -> dict[str, dict[str, dict[str, ProtocolSummary]]]:
        """Keys in name order, values in their natural order (numbers by size), protocols in name order."""
        return {
            key: {
                label: {group: _finish(s) for group, s in sorted(self.cells[key][label].items())}
                for label in sorted(seen, key=lambda v: (isinstance(seen[v], str), seen[v]))
            }
            for key, seen in sorted(self.values.items())
            if len(seen) in SPLIT_VALUES
        }


def group_name(record: GameRecord) -> str:
    """The protocol, and the kind of game within it where the protocol plays several (``ida/direct``)."""
    return f"{record.protocol}/{record.variant}" if record.variant else record.protocol


class SummaryTally:
    """The run summary, counted game by game: a run of any length is summarised in one pass, holding no records."""

    def __init__(self) -> None:
        self.overall = ProtocolSummary()
        self.by_protocol: dict[str, ProtocolSummary] = defaultdict(ProtocolSummary)
        self.by_meta = _MetaSplits()
        self.usage_by_role: dict[str, UsageTotals] = defaultdict(UsageTotals)
        self.usage_by_model: dict[str, UsageTotals] = defaultdict(UsageTotals)
        self.usage_by_protocol: dict[str, UsageTotals] = defaultdict(UsageTotals)

    def add(self, record: GameRecord) -> None:
        """Count one game in: overall, under its protocol, under each of its item's metadata values, and its calls'
        token usage by role, by model and by protocol."""
        group = group_name(record)
        _tally(self.overall, record)
        _tally(self.by_protocol[group], record)
        self.by_meta.add(record, group)
        for call in record.calls:
            self.usage_by_role[call.role].add(call)
            self.usage_by_model[call.model].add(call)
            self.usage_by_protocol[group].add(call)

    def summary(self, run_id: str, planned: int | None = None, skipped: dict[str, int] | None = None) -> RunSummary:
        """The run's summary; ``skipped`` counts the task's questions left out while loading, by reason."""
        overall = _finish(self.overall)
        total = max(planned or 0, overall.games)
        return RunSummary(
            run_id=run_id,
            games=total,
            complete=overall.complete,
            failed=overall.failed,
            pending=total - overall.games,
            accuracy=overall.accuracy,
            accuracy_ci95=overall.accuracy_ci95,
            by_protocol={name: _finish(group) for name, group in sorted(self.by_protocol.items())},
            by_meta=self.by_meta.result(),
            skipped_items=dict(skipped or {}),
            usage_by_role=dict(sorted(self.usage_by_role.items())),
            usage_by_model=dict(sorted(self.usage_by_model.items())),
            usage_by_protocol=dict(sorted(self.usage_by_protocol.items())),
        )


def summarise(
    run_id: str, records: Iterable[GameRecord], planned: int | None = None, skipped: dict[str, int] | None = None
) -> RunSummary:
    """The summary of ``records`` (a list or a stream), in one pass."""
    tally = SummaryTally()
    for record in records:
        tally.add(record)
    return tally.summary(run_id, planned, skipped)
