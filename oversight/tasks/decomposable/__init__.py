"""Tasks with exact answers and exact decompositions, for amplification (``oversight run ida``).

Each task generates items offline, deterministically by seed, four difficulty levels interleaved (each item's
``meta`` carries ``difficulty`` and the exact tree's ``height``, ``nodes`` and ``leaves``). Every question text
belongs to exactly one task, so :func:`recognise` can tell from a prompt which task a question comes from: that
is how the scripted oracle plays, and how a recorded tree gets exact answers for its nodes.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from oversight.tasks.decomposable.arithmetic import TASK as NESTED_ARITHMETIC
from oversight.tasks.decomposable.assignments import TASK as SEQUENTIAL_ASSIGNMENTS
from oversight.tasks.decomposable.base import (
    DIFFICULTIES,
    DecomposableTask,
    answer_by_decomposition,
    canonical_question,
    normalise_answer,
    tree_shape,
)
from oversight.tasks.decomposable.permutation import TASK as PERMUTATION_POWERING
from oversight.tasks.decomposable.relations import TASK as MULTI_HOP
from oversight.tasks.decomposable.shortest_path import TASK as SHORTEST_PATH
from oversight.tasks.decomposable.union_find import TASK as UNION_FIND
from oversight.tasks.decomposable.wildcard import TASK as WILDCARD_SEARCH

FAMILIES: tuple[DecomposableTask[Any], ...] = (
    NESTED_ARITHMETIC,
    PERMUTATION_POWERING,
    SEQUENTIAL_ASSIGNMENTS,
    WILDCARD_SEARCH,
    SHORTEST_PATH,
    UNION_FIND,
    MULTI_HOP,
)
BY_NAME = {task.name: task for task in FAMILIES}


def recognise(question: str) -> DecomposableTask[Any] | None:
    """The task a question text belongs to, or None."""
    for task in FAMILIES:
        if task.parse(question) is not None:
            return task
    return None


@lru_cache(maxsize=65536)
def exact_answer(question: str) -> str | None:
    """The exact answer of a question any built-in task can read, else None (a model's own wording, a file's item)."""
    task = recognise(question)
    if task is None:
        return None
    try:
        return task.answer(question)
    except (ValueError, KeyError, IndexError):
        return None


__all__ = [
    "BY_NAME",
    "DIFFICULTIES",
    "FAMILIES",
    "DecomposableTask",
    "answer_by_decomposition",
    "canonical_question",
    "exact_answer",
    "normalise_answer",
    "recognise",
    "tree_shape",
]
