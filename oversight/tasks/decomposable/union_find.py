"""Union–find (Christiano et al. 2018): are two items connected by a list of links?

Two kinds of question share one task: ``Are a and e connected, given the links a-b, c-d, …?`` (yes / no) and
``What are the groups of connected items, given the links …?`` (``a b e; c d``: each group's items in order,
groups ordered by their first item). Either splits its links into two halves and asks for the groups of each;
the aggregate merges the two partitions (and, for the first kind, looks up the two items). Two links or fewer
is a leaf.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from oversight.tasks.decomposable.base import DecomposableTask, normalise_answer
from oversight.tasks.items import TaskSet

_RULES = "Links connect both ways and chain together"
_CONNECTED = re.compile(
    rf"^Are ([a-z]) and ([a-z]) connected, given the links (.+?)\? {_RULES}; answer yes or no\.?$"
)
_GROUPS = re.compile(
    rf"^What are the groups of connected items, given the links (.+?)\? {_RULES}; list each group's items in "
    r"alphabetical order, groups separated by semicolons\.?$"
)
_LINK = re.compile(r"^([a-z])-([a-z])$")
_ITEM = re.compile(r"^[a-z]$")
LEAF_LINKS = 2


@dataclass(frozen=True)
class Links:
    """The links as item pairs in the order shown, and what is asked of them."""

    links: tuple[tuple[str, str], ...]
    #: the two items asked about, or None for a groups question
    pair: tuple[str, str] | None = None


def partition(links: Iterable[tuple[str, str]]) -> list[list[str]]:
    """The groups the links connect (only items that appear in a link), each in alphabetical order, groups
    ordered by their first item."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in links:
        parent[find(a)] = find(b)
    groups: dict[str, list[str]] = {}
    for x in list(parent):
        groups.setdefault(find(x), []).append(x)
    return sorted(sorted(g) for g in groups.values())


def show_groups(groups: Iterable[Iterable[str]]) -> str:
    """Groups written as an answer, ``a b e; c d``: items in order within a group, groups by their first item."""
    return "; ".join(" ".join(g) for g in sorted(sorted(g) for g in groups))


def read_groups(text: str) -> list[list[str]]:
    """A written groups answer, leniently: groups separated by semicolons, new lines or bars, items by spaces or
    commas (ValueError when an item is not a single letter)."""
    raw = str(text).replace("\n", ";").replace("|", ";")
    groups = []
    for part in raw.split(";"):
        items = normalise_answer(part).split()
        if not all(_ITEM.match(i) for i in items):
            raise ValueError(f"not a list of groups: {text!r}")
        if items:
            groups.append(items)
    return groups


def _chain(groups: Sequence[Sequence[str]]) -> list[tuple[str, str]]:
    """Links that make exactly these groups (each item to the next within its group)."""
    return [(g[i], g[i + 1]) for g in groups for i in range(len(g) - 1)]


class UnionFind(DecomposableTask[Links]):
    """Connectivity over a list of links, asked as a yes/no pair question or as the groups; either splits into the
    groups of each half of the links, and the aggregate merges them."""

    name: ClassVar[str] = "union-find"
    description: ClassVar[str] = "whether two items are connected by a list of links"
    difficulty_means: ClassVar[str] = "difficulty d: 2^(d+1) links"

    def generate(self, rng: random.Random, difficulty: int) -> Links:
        n_links = 2 ** (difficulty + 1)
        n_items = min(26, n_links + n_links // 4 + 2)
        items = [chr(ord("a") + i) for i in rng.sample(range(26), n_items)]
        want = rng.random() < 0.5  # half the items are connected pairs
        while True:
            links: list[tuple[str, str]] = []
            while len(links) < n_links:
                a, b = rng.sample(items, 2)
                if (a, b) not in links and (b, a) not in links:
                    links.append((a, b))
            linked = sorted({i for link in links for i in link})
            for _ in range(20):
                x, y = rng.sample(linked, 2)
                problem = Links(tuple(links), (x, y))
                if (self.solve(problem) == "yes") == want:
                    return problem

    def render(self, problem: Links) -> str:
        links = ", ".join(f"{a}-{b}" for a, b in problem.links)
        if problem.pair is not None:
            x, y = problem.pair
            return f"Are {x} and {y} connected, given the links {links}? {_RULES}; answer yes or no."
        return (
            f"What are the groups of connected items, given the links {links}? {_RULES}; list each group's items "
            "in alphabetical order, groups separated by semicolons."
        )

    def parse(self, text: str) -> Links | None:
        text = text.strip()
        if match := _CONNECTED.match(text):
            pair: tuple[str, str] | None = (match.group(1), match.group(2))
            body = match.group(3)
        elif match := _GROUPS.match(text):
            pair, body = None, match.group(1)
        else:
            return None
        found = [_LINK.match(part.strip()) for part in body.split(",")]
        if not all(found):
            return None
        return Links(tuple((m.group(1), m.group(2)) for m in found if m), pair)

    def solve(self, problem: Links) -> str:
        groups = partition(problem.links)
        return self._answer(problem, groups)

    def _answer(self, problem: Links, groups: Sequence[Sequence[str]]) -> str:
        if problem.pair is None:
            return show_groups(groups)
        x, y = problem.pair
        return "yes" if x == y or any(x in g and y in g for g in groups) else "no"

    def split(self, problem: Links) -> list[Links] | None:
        if len(problem.links) <= LEAF_LINKS:
            return None
        half = len(problem.links) // 2
        return [Links(problem.links[:half]), Links(problem.links[half:])]

    def combine(self, problem: Links, sub_answers: Sequence[str]) -> str:
        merged = partition(link for answer in sub_answers for link in _chain(read_groups(answer)))
        return self._answer(problem, merged)

    def corrupt(self, problem: Links, answer: str, u: float) -> str:
        if problem.pair is not None:
            return "no" if normalise_answer(answer) == "yes" else "yes"
        groups = [list(g) for g in read_groups(answer)]
        if len(groups) >= 2:
            i = int(u * len(groups)) % len(groups)
            j = (i + 1) % len(groups)
            if len(groups[i]) > 1:
                groups[j].append(groups[i].pop(int(u * 97) % len(groups[i])))
            else:
                groups[j].extend(groups.pop(i))
        elif groups and len(groups[0]) > 1:
            groups.append([groups[0].pop()])
        else:
            return "a b"
        return show_groups(g for g in groups if g)


TASK = UnionFind()


def union_find(seed: int = 0) -> TaskSet:
    """The built-in union-find set: ten pair questions at each difficulty, fixed by the seed, about half of them
    connected."""
    return TASK.task_set(seed)
