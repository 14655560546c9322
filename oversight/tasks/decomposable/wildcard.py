"""Wildcard search (Christiano et al. 2018): sum the values of a table's keys that match a pattern with wildcards.

``What is the sum of the values of the keys matching 01*1*0 (each * matches 0 or 1) in the table 010110=7,
111000=2, …?`` The sub-questions fix the first wildcard to 0 and to 1; the aggregate adds their answers. A
pattern without wildcards is a leaf (one look-up, 0 when the key is absent).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from oversight.tasks.decomposable.base import DecomposableTask, read_int
from oversight.tasks.items import TaskSet

_QUESTION = re.compile(
    r"^What is the sum of the values of the keys matching ([01*]+) \(each \* matches 0 or 1\) in the table (.+?)\s*\?$"
)
_ENTRY = re.compile(r"^([01]+)=(\d+)$")
KEY_LENGTH = 6


@dataclass(frozen=True)
class Search:
    """The table as ``(binary key, value)`` entries in the order shown, and the pattern (``0``, ``1`` and ``*``)."""

    table: tuple[tuple[str, int], ...]
    pattern: str


def matches(key: str, pattern: str) -> bool:
    """Whether a key has the pattern's length and agrees with it everywhere the pattern has no ``*``."""
    return len(key) == len(pattern) and all(p in ("*", k) for k, p in zip(key, pattern, strict=True))


class WildcardSearch(DecomposableTask[Search]):
    """Summing the values of the keys a wildcard pattern matches; a question splits by fixing its first wildcard to 0
    and to 1, and the aggregate adds the two sums."""

    name: ClassVar[str] = "wildcard-search"
    description: ClassVar[str] = "sum of the values whose keys match a pattern with wildcards"
    difficulty_means: ClassVar[str] = "difficulty = number of wildcards 1-4, 6+2d table entries"

    def generate(self, rng: random.Random, difficulty: int) -> Search:
        positions = set(rng.sample(range(KEY_LENGTH), difficulty))
        pattern = "".join("*" if i in positions else rng.choice("01") for i in range(KEY_LENGTH))
        matching = ["".join(rng.choice("01") if c == "*" else c for c in pattern) for _ in range(rng.randint(1, 3))]
        keys = list(dict.fromkeys(matching))
        while len(keys) < 6 + 2 * difficulty:
            key = "".join(rng.choice("01") for _ in range(KEY_LENGTH))
            if key not in keys:
                keys.append(key)
        rng.shuffle(keys)
        return Search(tuple((key, rng.randint(1, 9)) for key in keys), pattern)

    def render(self, problem: Search) -> str:
        table = ", ".join(f"{key}={value}" for key, value in problem.table)
        return (
            f"What is the sum of the values of the keys matching {problem.pattern} (each * matches 0 or 1) "
            f"in the table {table}?"
        )

    def parse(self, text: str) -> Search | None:
        match = _QUESTION.match(text.strip())
        if not match:
            return None
        entries = [_ENTRY.match(part.strip()) for part in match.group(2).split(",")]
        if not all(entries):
            return None
        table = tuple((m.group(1), int(m.group(2))) for m in entries if m)
        keys = [key for key, _ in table]
        if len(set(keys)) != len(keys):
            return None
        return Search(table, match.group(1))

    def solve(self, problem: Search) -> str:
        return str(sum(value for key, value in problem.table if matches(key, problem.pattern)))

    def split(self, problem: Search) -> list[Search] | None:
        i = problem.pattern.find("*")
        if i < 0:
            return None
        return [Search(problem.table, problem.pattern[:i] + bit + problem.pattern[i + 1 :]) for bit in "01"]

    def combine(self, problem: Search, sub_answers: Sequence[str]) -> str:
        return str(sum(read_int(answer) for answer in sub_answers))

    def corrupt(self, problem: Search, answer: str, u: float) -> str:
        value = read_int(answer)
        offset = 1 + int(u * 10) % 5
        return str(value + offset if u < 0.5 or value - offset < 0 else value - offset)


TASK = WildcardSearch()


def wildcard_search(seed: int = 0) -> TaskSet:
    """The built-in wildcard-search set: ten tables at each number of wildcards, fixed by the seed, each with a
    matching key."""
    return TASK.task_set(seed)
