"""Name → implementation lookups shared by protocols, backends, tasks and judges.

Built-ins and plug-ins register the same way: an entry point in a named group whose value is
``module:attribute``. The object is imported only when its name is asked for, so a heavy backend costs
nothing until used.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from oversight.errors import UserError


def load_object(target: str) -> Any:
    """The object a ``module:attribute`` target names (the attribute may be dotted), importing its module;
    UserError when the target has no colon."""
    module_name, sep, attr = target.partition(":")
    if not sep:
        raise UserError(f"{target!r}: expected module:attribute")
    obj: Any = import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry:
    """Entry points of one group, plus in-process additions (tests, notebooks)."""

    def __init__(self, group: str, kind: str, builtins: dict[str, str] | None = None) -> None:
        self.group = group
        self.kind = kind
        self._builtins = dict(builtins or {})
        self._added: dict[str, Any] = {}

    @cache  # noqa: B019 - registries live for the whole process
    def _entry_points(self) -> dict[str, str]:
        return {ep.name: ep.value for ep in entry_points(group=self.group)}

    def add(self, name: str, obj: Any) -> None:
        """Register an object under a name for this process only; it wins over a built-in or entry point of the
        same name."""
        self._added[name] = obj

    def names(self) -> list[str]:
        """Every known name, built-in, installed or added, in alphabetical order."""
        return sorted({*self._builtins, *self._entry_points(), *self._added})

    def get(self, name: str) -> Any:
        """The object registered under a name, imported now if it is an entry point; UserError listing the known names
        when there is none."""
        if name in self._added:
            return self._added[name]
        target = self._builtins.get(name) or self._entry_points().get(name)
        if target is None:
            raise UserError(f"unknown {self.kind} {name!r} (known: {', '.join(self.names()) or 'none'})")
        return load_object(target)
