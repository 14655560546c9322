"""From game records to a run summary: counts, judge accuracy with a 95% interval, token usage."""

from __future__ import annotations

from collections import defaultdict

from scipy.stats import binomtest

from oversight.records import GameRecord, Interval, ProtocolSummary, RunSummary, UsageTotals


def rate(hits: int, total: int) -> float | None:
    """A share, or None when there is nothing to share out."""
    return hits / total if total else None


def wilson_interval(successes: int, trials: int) -> Interval | None:
    if trials == 0:
        return None
    ci = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    return Interval(low=float(ci.low), high=float(ci.high))


def _protocol_summary(records: list[GameRecord]) -> ProtocolSummary:
    summary = ProtocolSummary(games=len(records))
    for record in records:
        if record.status == "failed":
            summary.failed += 1
            continue
        summary.complete += 1
        if record.correct is None:
            continue
        summary.judged += 1
        summary.correct += int(record.correct)
        if record.verdict is not None and not record.verdict.valid:
            summary.invalid_verdicts += 1
    if summary.judged:
        summary.accuracy = summary.correct / summary.judged
        summary.accuracy_ci95 = wilson_interval(summary.correct, summary.judged)
    return summary


def group_name(record: GameRecord) -> str:
    """The protocol, and the kind of game within it where the protocol plays several (``ida/direct``)."""
    return f"{record.protocol}/{record.variant}" if record.variant else record.protocol


def summarize(run_id: str, records: list[GameRecord], planned: int | None = None) -> RunSummary:
    by_protocol: dict[str, list[GameRecord]] = defaultdict(list)
    usage_by_role: dict[str, UsageTotals] = defaultdict(UsageTotals)
    usage_by_model: dict[str, UsageTotals] = defaultdict(UsageTotals)
    for record in records:
        by_protocol[group_name(record)].append(record)
        for call in record.calls:
            usage_by_role[call.role].add(call)
            usage_by_model[call.model].add(call)
    overall = _protocol_summary(records)
    total = max(planned or 0, len(records))
    return RunSummary(
        run_id=run_id,
        games=total,
        complete=overall.complete,
        failed=overall.failed,
        pending=total - len(records),
        accuracy=overall.accuracy,
        accuracy_ci95=overall.accuracy_ci95,
        by_protocol={name: _protocol_summary(group) for name, group in sorted(by_protocol.items())},
        usage_by_role=dict(sorted(usage_by_role.items())),
        usage_by_model=dict(sorted(usage_by_model.items())),
    )
