"""What every reader of a run shows alike, so that ``oversight show`` and ``oversight report`` agree.

- Protocols come in their own order (:attr:`~oversight.protocol.Protocol.display_order`, then by name), never in
  the order of a list kept here.
- Each protocol, or each variant of one (``ida/direct``), has its own headline — what it measures
  (:attr:`~oversight.protocol.Protocol.headline`) and its share with a 95% interval — and no figure is pooled over
  protocols that measure different things.
- Figures go by their human names (the metrics model's field titles); ``summary.json`` keeps the keys.
- Seats go by the names their protocol gives them (``Debater 1``), never a bare letter, which reads as an answer.
- A verdict's probabilities are labelled by where they came from, and a confidence the judge wrote is never passed
  off as its logprob probability.

A protocol that is no longer installed is shown with the defaults of :class:`~oversight.protocol.Protocol`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from oversight.errors import UserError
from oversight.metrics import MetricSection, figure_title, metric_section
from oversight.protocol import PROTOCOLS, Protocol
from oversight.records import GameRecord, Interval, ProtocolSummary, RunSummary, Verdict
from oversight.verdicts import choice_labels, stated_confidence

#: what a verdict's probabilities are, by ``Verdict.source``
PROBABILITY_SOURCES = {
    "logprobs": "probability from the answer token's logprobs",
    "stated": "the judge's stated confidence (the rest spread evenly)",
    "human": "the judge's stated confidence (the rest spread evenly)",
}


def protocol_class(name: str) -> type[Protocol]:
    """The protocol registered as ``name`` (a protocol, or a summary group such as ``ida/direct``); the base class,
    with its defaults, for one that is no longer installed."""
    try:
        found: type[Protocol] = PROTOCOLS.get(name.partition("/")[0])
    except UserError:
        return Protocol
    return found


def in_display_order(names: Iterable[str]) -> list[str]:
    """Protocols or summary groups in the order readers show them: by their protocol's ``display_order``, then by
    name."""
    return sorted(names, key=lambda name: (protocol_class(name).display_order, name))


def figure_name(field: str) -> str:
    """The human name of one of the engine's own figures of a protocol (a field of
    :class:`~oversight.records.ProtocolSummary`)."""
    return figure_title(ProtocolSummary, field)


@dataclass(frozen=True)
class Headline:
    """One protocol's (or variant's) headline: what it measures, the share and its 95% interval, and its counts."""

    #: the protocol, or ``protocol/variant``
    group: str
    #: what the share measures ("judge accuracy", "builder survival", …)
    label: str
    value: float | None
    interval: Interval | None
    counts: ProtocolSummary


def headlines(summary: RunSummary) -> list[Headline]:
    """A headline per protocol and variant of the summary, in display order."""
    rows = []
    for group in in_display_order(summary.by_protocol):
        protocol = protocol_class(group)
        counts = summary.by_protocol[group]
        value, interval = protocol.headline_figure(counts, summary.metrics.get(group.partition("/")[0], {}))
        rows.append(Headline(group, protocol.headline, value, interval, counts))
    return rows


def metric_sections(summary: RunSummary) -> list[MetricSection]:
    """A section per protocol with figures in the summary, in display order: every figure by its human name, every
    table titled with its protocol, seats by the protocol's names for them."""
    sections = []
    for name in in_display_order(summary.metrics):
        if figures := summary.metrics[name]:
            protocol = protocol_class(name)
            sections.append(metric_section(name, figures, protocol.metrics_model, protocol.seat_name))
    return sections


@dataclass(frozen=True)
class Split:
    """The accuracy of one protocol (or variant) by the value of one item metadata key."""

    group: str
    key: str
    #: what the share measures: the protocol's headline where that is its accuracy, else plain accuracy
    label: str
    #: (value, the games with that value) for each value with scored games
    rows: list[tuple[str, ProtocolSummary]]


def _headline_is_accuracy(protocol: type[Protocol]) -> bool:
    return protocol.headline_figure.__func__ is Protocol.headline_figure.__func__  # type: ignore[attr-defined]


def splits(summary: RunSummary) -> list[Split]:
    """For each protocol (or variant) in display order, its accuracy by each metadata key the summary splits on;
    values without scored games are left out, and a split left with none."""
    found = []
    groups = {group for by_value in summary.by_meta.values() for cells in by_value.values() for group in cells}
    for group in in_display_order(groups):
        protocol = protocol_class(group)
        label = protocol.headline if _headline_is_accuracy(protocol) else figure_name("accuracy")
        for key, by_value in summary.by_meta.items():
            rows = [(value, cells[group]) for value, cells in by_value.items()
                    if group in cells and cells[group].judged]
            if rows:
                found.append(Split(group, key, label, rows))
    return found


def seat_name(protocol: str, seat: str) -> str:
    """How readers name ``seat`` of a game of ``protocol`` (``Debater 1``, ``Consultant``, ``seat X``)."""
    return protocol_class(protocol).seat_name(seat)


def seating_text(record: GameRecord) -> str:
    """Who defends which answer in a game, e.g. ``Debater 1 defends B · Debater 2 defends A``; empty without seats."""
    labels = choice_labels(len(record.choices))
    protocol = protocol_class(record.protocol)
    return " · ".join(
        f"{protocol.seat_name(seat)} defends {labels[choice] if 0 <= choice < len(labels) else choice}"
        for seat, choice in sorted(record.seating.items())
    )


def probability_label(source: str | None) -> str:
    """What a verdict's probabilities are, given where they came from (``Verdict.source``)."""
    if source in PROBABILITY_SOURCES:
        return PROBABILITY_SOURCES[source]
    return f"probabilities ({source})" if source else "probabilities"


def stated_beside_logprobs(verdict: Verdict) -> float | None:
    """The confidence the judge wrote in its reply when its probabilities came from logprobs instead; None
    otherwise. Readers show it apart, as stated, since it is not the probability recorded."""
    return stated_confidence(verdict.raw) if verdict.source == "logprobs" else None
