"""Neutral views of games and figures: small structures a protocol fills and the engine renders.

A protocol never writes HTML for the report: :meth:`oversight.protocol.Protocol.report_view` returns a
:class:`ReportView` (a tree, tables, JSON), and the page renders it like any other, escaping every string.
Protocol metrics become :class:`ViewTable` rows too (:mod:`oversight.metrics`), drawn by ``oversight show`` as
terminal tables and by ``oversight report`` as HTML ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ViewTable:
    """A table: a title, its column names, and rows of cells in column order."""

    title: str
    columns: list[str]
    #: cells are numbers, text, None, or lists and mappings (shown as JSON)
    rows: list[list[Any]]


@dataclass
class ViewNode:
    """One node of a tree view."""

    #: what the node is (a question, a step), shown first
    text: str
    #: what it came to (an answer), shown after an arrow; None shows no arrow
    value: str | None = None
    #: the node's own verdict on its value, when it has one: shown as ✓ or ✗
    correct: bool | None = None
    #: the node's other fields, shown as one line of JSON
    details: dict[str, Any] = field(default_factory=dict)
    children: list[ViewNode] = field(default_factory=list)


@dataclass
class ReportView:
    """What ``oversight report`` shows of one game beyond its question, turns and verdict."""

    #: the view's heading
    title: str = ""
    #: a tree (a decomposition, a search), given by its roots
    tree: list[ViewNode] = field(default_factory=list)
    tables: list[ViewTable] = field(default_factory=list)
    #: anything else the view shows, as JSON
    data: dict[str, Any] = field(default_factory=dict)
    #: keys of the record's ``meta`` the view shows, left out of the page's generic game details
    shown_meta: frozenset[str] = frozenset()


def to_json(value: Any, indent: int | None = 1) -> str:
    """JSON as the views show it: non-ASCII text kept, anything else JSON cannot hold written as text."""
    return json.dumps(value, indent=indent, ensure_ascii=False, default=str)


def cell(value: Any) -> str:
    """One table cell as text: floats to three decimals, None as ``-``, lists and mappings as compact JSON."""
    if isinstance(value, float):
        return f"{value:.3f}"
    if value is None:
        return "-"
    return to_json(value, indent=None) if isinstance(value, (list, dict)) else str(value)
