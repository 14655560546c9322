"""A run's fingerprint: a hash over every part that decides what its games are.

The parts are kept one by one in ``run.json`` (``fingerprint_parts``), so that a folder refused for holding
another run can say which part changed: the protocol and its settings, the roles' models (a tournament's
players), the judge (with the code of a plug-in judge), the task's content, the seed, the package version, and
each prompt template by name.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from oversight import __version__
from oversight.judges.ensemble import SEPARATOR
from oversight.prompts import PromptLibrary
from oversight.tasks import TaskSet

#: a template's part is named ``templates:<name>`` (a tournament player's own: ``… of player <player>``)
TEMPLATES = "templates"
_MODULE = re.compile(r"[A-Za-z_][\w.]*")


def digest(value: Any) -> str:
    """The SHA-256 of a value's JSON with sorted keys, so equal values always hash alike (anything JSON cannot hold
    is hashed as its ``str``)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()


def fingerprint(parts: dict[str, str]) -> str:
    """The run's fingerprint: one hash over all its parts, each already a digest."""
    return digest(parts)


def common_parts(task: TaskSet, seed: int) -> dict[str, str]:
    """The parts every run has: what it plays on, the seed of its draws, and the code that plays it."""
    # the name is part of every game id, so a renamed file is another task
    if task.source == "built-in":
        content = {"name": task.name, "seed": seed, "items": digest([i.model_dump(mode="json") for i in task.items])}
    else:
        content = {"name": task.name, "sha256": hashlib.sha256(Path(task.source).read_bytes()).hexdigest()}
    return {"task": digest(content), "seed": digest(seed), "package version": digest(__version__)}


def judge_part(spec: str) -> str:
    """The judge spec, with the source of each plug-in judge's file: editing a plug-in changes its verdicts."""
    sources = {}
    for member in (m.strip() for m in spec.split(SEPARATOR)):
        if (path := _plugin_file(member)) is not None and path.is_file():
            sources[member] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest({"spec": spec, "sources": sources})


def _plugin_file(spec: str) -> Path | None:
    """The file defining a ``file.py:attr`` or ``module:attr`` judge; None for model specs and names."""
    target, sep, _ = spec.rpartition(":")
    if target.endswith(".py"):
        return Path(target)
    if not sep or not _MODULE.fullmatch(target):
        return None
    try:
        found = importlib.util.find_spec(target)
    except (ImportError, ValueError):
        return None
    return Path(found.origin) if found is not None and found.origin else None


def template_parts(
    library: PromptLibrary, folders: Iterable[str], players: dict[str, PromptLibrary] | None = None
) -> dict[str, str]:
    """A part per template the run can render: the run's own library, and where a tournament player brings
    its own templates, each one that differs from the run's."""
    dirs = sorted(set(folders))
    shared = {name: source for folder in dirs for name, source in library.sources(folder).items()}
    parts = {f"{TEMPLATES}:{name}": digest(source) for name, source in shared.items()}
    for player, own in sorted((players or {}).items()):
        for folder in dirs:
            for name, source in own.sources(folder).items():
                if source != shared.get(name):
                    parts[f"{TEMPLATES}:{name} of player {player}"] = digest(source)
    return parts


def describe_change(old: dict[str, str], new: dict[str, str]) -> str:
    """Which parts differ, e.g. ``the templates changed (debate/judge.j2)``."""
    if not old:
        return "it was made by an earlier version of oversight"
    details: dict[str, list[str]] = {}
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) != new.get(key):
            part, _, detail = key.partition(":")
            details.setdefault(part, []).extend([detail] if detail else [])
    changes = [f"the {part} changed" + (f" ({', '.join(names)})" if names else "") for part, names in details.items()]
    return "; ".join(changes) or "it was made by another version of oversight"
