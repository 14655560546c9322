"""Protocol metrics: the typed figures a protocol adds to ``summary.json``, and one layout of them for every reader.

A protocol's :meth:`~oversight.protocol.Protocol.metrics` returns a subclass of :class:`ProtocolMetrics`
defined in its own folder. The summary keeps it as that model's JSON, by protocol, so a summary written by a
protocol that is no longer installed still loads and still shows. :func:`metric_section` lays out either form
the same way — scalars in one table, each list of rows as a table of its own, anything else as JSON — each figure
by its field's title (``Field(title=...)``), while ``summary.json`` keeps the field's name; ``oversight show`` and
``oversight report`` draw those sections (:mod:`oversight.display`), each in its own medium.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, get_args

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer
from pydantic.fields import FieldInfo

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


#: marks a row figure whose values are seats (keys of ``GameRecord.seating``): readers show each by its protocol's
#: name for the seat (:meth:`~oversight.protocol.Protocol.seat_name`), while summary.json keeps the key
SEAT = "seat"


def seat_field(title: str) -> Any:
    """A row figure that holds a seat, titled ``title``; readers show its values by the protocol's names for seats."""
    return Field(title=title, json_schema_extra={SEAT: True})


@dataclass
class MetricSection:
    """One protocol's figures laid out for display, each by its human name."""

    protocol: str
    #: (figure title, value) for every figure that is a single value
    scalars: list[tuple[str, Any]] = field(default_factory=list)
    #: each figure that is a list of rows, as a table titled by the protocol and the figure
    tables: list[ViewTable] = field(default_factory=list)
    #: figures that are neither, by title, shown as JSON
    other: dict[str, Any] = field(default_factory=dict)


def _field(model: type[BaseModel] | None, name: str) -> FieldInfo | None:
    return model.model_fields.get(name) if model is not None else None


def figure_title(model: type[BaseModel] | None, name: str) -> str:
    """The human name of figure ``name``: its field's title on ``model``, else the key with spaces for underscores
    (an untitled figure, or one of a protocol that is no longer installed)."""
    info = _field(model, name)
    return info.title if info is not None and info.title else name.replace("_", " ")


def _row_model(model: type[BaseModel] | None, name: str) -> type[BaseModel] | None:
    """The model of the rows of list figure ``name``, read from its annotation (``list[Row] | None``)."""
    info = _field(model, name)
    pending = [info.annotation] if info is not None else []
    while pending:
        annotation = pending.pop()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation
        pending += get_args(annotation)
    return None


def _holds_seats(model: type[BaseModel] | None, name: str) -> bool:
    extra = info.json_schema_extra if (info := _field(model, name)) is not None else None
    return isinstance(extra, dict) and bool(extra.get(SEAT))


def _rows(value: Any) -> list[Mapping[str, Any]] | None:
    if isinstance(value, list) and value and all(isinstance(row, Mapping) for row in value):
        return value
    return None


def _table(
    protocol: str, title: str, rows: list[Mapping[str, Any]], model: type[BaseModel] | None,
    seat_name: Callable[[str], str],
) -> ViewTable:
    """Rows as a table whose columns are every key in the order they first appear, seats by their names."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    seats = {column for column in columns if _holds_seats(model, column)}
    return ViewTable(
        title=f"{protocol} · {title}",
        columns=[figure_title(model, column) for column in columns],
        rows=[
            [seat_name(v) if column in seats and isinstance(v := row.get(column), str) else row.get(column)
             for column in columns]
            for row in rows
        ],
    )


def metric_section(
    protocol: str,
    metrics: ProtocolMetrics | Mapping[str, Any],
    model: type[ProtocolMetrics] | None = None,
    seat_name: Callable[[str], str] = str,
) -> MetricSection:
    """The section for one protocol's figures, given as its model or as the JSON the summary stored; ``model``
    (by default the figures' own, when given as a model) titles them, ``seat_name`` names the seats in them."""
    if isinstance(metrics, ProtocolMetrics):
        model = model or type(metrics)
        data = metrics.model_dump(mode="json")
    else:
        data = dict(metrics)
    section = MetricSection(protocol)
    for name, value in data.items():
        if name == _VERSION:
            continue
        title = figure_title(model, name)
        if (rows := _rows(value)) is not None:
            section.tables.append(_table(protocol, title, rows, _row_model(model, name), seat_name))
        elif not isinstance(value, (list, dict)):
            section.scalars.append((title, value))
        elif value:  # an empty list or mapping has nothing to show
            section.other[title] = value
    return section
