"""Protocol metrics: the typed figures a protocol adds to ``summary.json``, and one layout of them for every reader.

A protocol's :meth:`~oversight.protocol.Protocol.metrics` returns a subclass of :class:`ProtocolMetrics`
defined in its own folder. The summary keeps it as that model's JSON, by protocol, so a summary written by a
protocol that is no longer installed still loads and still shows. :func:`metric_section` lays out either form
the same way — scalars in one table, each list of rows as a table of its own, anything else as JSON — and
``oversight show`` and ``oversight report`` draw those sections, each in its own medium.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

from oversight.records import RunSummary
from oversight.views import ViewTable

#: the base model's own field: bookkeeping for readers of summary.json, not a figure to show
_VERSION = "schema_version"


class ProtocolMetrics(BaseModel):
    """Base of every protocol's figures; each figure is a field, each table a list of row models."""

    model_config = ConfigDict(extra="forbid")

    #: the shape of this protocol's figures; a protocol raises its default when it renames or removes one
    schema_version: int = 1
    #: figures left out of the JSON, rather than written as null, when they do not apply to a run
    omitted_when_none: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _leave_out_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if not (v is None and k in self.omitted_when_none)}


@dataclass
class MetricSection:
    """One protocol's figures laid out for display."""

    protocol: str
    #: (figure name, value) for every figure that is a single value
    scalars: list[tuple[str, Any]] = field(default_factory=list)
    #: each figure that is a list of rows, as a table titled by the figure
    tables: list[ViewTable] = field(default_factory=list)
    #: figures that are neither, shown as JSON
    other: dict[str, Any] = field(default_factory=dict)


def _label(name: str) -> str:
    return name.replace("_", " ")


def _rows(value: Any) -> list[Mapping[str, Any]] | None:
    if isinstance(value, list) and value and all(isinstance(row, Mapping) for row in value):
        return value
    return None


def _table(name: str, rows: list[Mapping[str, Any]]) -> ViewTable:
    """Rows as a table whose columns are every key in the order they first appear."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return ViewTable(
        title=_label(name),
        columns=[_label(column) for column in columns],
        rows=[[row.get(column) for column in columns] for row in rows],
    )


def metric_section(protocol: str, metrics: ProtocolMetrics | Mapping[str, Any]) -> MetricSection:
    """The section for one protocol's figures, given as its model or as the JSON the summary stored."""
    data = metrics.model_dump(mode="json") if isinstance(metrics, ProtocolMetrics) else metrics
    section = MetricSection(protocol)
    for name, value in data.items():
        if name == _VERSION:
            continue
        if (rows := _rows(value)) is not None:
            section.tables.append(_table(name, rows))
        elif not isinstance(value, (list, dict)):
            section.scalars.append((name, value))
        elif value:  # an empty list or mapping has nothing to show
            section.other[name] = value
    return section


def metric_sections(summary: RunSummary) -> list[MetricSection]:
    """A section per protocol with figures in the summary, in the summary's order."""
    return [metric_section(protocol, metrics) for protocol, metrics in summary.metrics.items() if metrics]
