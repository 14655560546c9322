"""Multi-hop relations: follow a chain of relations through a list of facts.

``Who is Ada's mentor's sibling's neighbour? Facts: Ada's mentor is Bo. Bo's sibling is Cy. …`` Hops depend on
each other, so the exact decomposition is a chain, not a fan: the one sub-question drops the last hop, and the
aggregate looks that hop up from the sub-answer in the facts. One hop is a leaf.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from oversight.tasks.decomposable.base import DecomposableTask, normalise_answer
from oversight.tasks.items import TaskSet

_QUESTION = re.compile(r"^Who is ([A-Z][a-z]+)'s ((?:[a-z]+'s )*[a-z]+)\? Facts: (.+?)\s*$")
_FACT = re.compile(r"([A-Z][a-z]+)'s ([a-z]+) is ([A-Z][a-z]+)\.")
NAMES = (
    "Ada", "Bo", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kai", "Lu", "Max", "Ned", "Oz", "Pia",
    "Quin", "Rex", "Sal", "Tess", "Uma", "Vic", "Wes", "Yan",
)
RELATIONS = ("mentor", "sibling", "neighbour", "manager", "friend", "doctor")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Chain:
    """The facts as ``(person, relation, person)`` triples in the order shown, the person the chain starts from, and
    the relations to follow in order."""

    facts: tuple[tuple[str, str, str], ...]
    start: str
    hops: tuple[str, ...]


def _lookup(facts: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str], str]:
    return {(a, r): b for a, r, b in facts}


class MultiHop(DecomposableTask[Chain]):
    """Following a chain of relations through facts with distractors among them; a question splits into the chain
    without its last hop, and the aggregate looks that hop up (a missing fact gives ``unknown``)."""

    name: ClassVar[str] = "multi-hop"
    description: ClassVar[str] = "follow a chain of relations through a list of facts"
    difficulty_means: ClassVar[str] = "difficulty d: d+1 hops among 8+2d people"

    def generate(self, rng: random.Random, difficulty: int) -> Chain:
        people = rng.sample(NAMES, 8 + 2 * difficulty)
        facts: dict[tuple[str, str], str] = {}
        start = people[0]
        current = start
        hops = []
        for _ in range(difficulty + 1):  # the asked chain first, so it is always defined
            relation = rng.choice([r for r in RELATIONS if (current, r) not in facts])
            nxt = rng.choice([p for p in people if p != current])
            facts[(current, relation)] = nxt
            hops.append(relation)
            current = nxt
        for _ in range(len(people) * 2):  # distractors
            a = rng.choice(people)
            relation = rng.choice(RELATIONS)
            if (a, relation) not in facts:
                facts[(a, relation)] = rng.choice([p for p in people if p != a])
        ordered = [(a, r, b) for (a, r), b in facts.items()]
        rng.shuffle(ordered)
        return Chain(tuple(ordered), start, tuple(hops))

    def render(self, problem: Chain) -> str:
        path = "'s ".join(problem.hops)
        facts = " ".join(f"{a}'s {r} is {b}." for a, r, b in problem.facts)
        return f"Who is {problem.start}'s {path}? Facts: {facts}"

    def parse(self, text: str) -> Chain | None:
        match = _QUESTION.match(text.strip())
        if not match:
            return None
        facts = tuple(_FACT.findall(match.group(3)))
        if not facts or " ".join(f"{a}'s {r} is {b}." for a, r, b in facts) != match.group(3).strip():
            return None
        if len({(a, r) for a, r, _ in facts}) != len(facts):
            return None
        return Chain(facts, match.group(1), tuple(match.group(2).split("'s ")))

    def _follow(self, problem: Chain, start: str, hops: Sequence[str]) -> str:
        table = _lookup(problem.facts)
        current = start
        for relation in hops:
            nxt = table.get((current, relation))
            if nxt is None:
                return UNKNOWN
            current = nxt
        return current

    def solve(self, problem: Chain) -> str:
        return self._follow(problem, problem.start, problem.hops)

    def split(self, problem: Chain) -> list[Chain] | None:
        if len(problem.hops) <= 1:
            return None
        return [Chain(problem.facts, problem.start, problem.hops[:-1])]

    def combine(self, problem: Chain, sub_answers: Sequence[str]) -> str:
        names = {a for a, _, _ in problem.facts} | {b for _, _, b in problem.facts}
        by_lower = {n.lower(): n for n in names}
        who = normalise_answer(sub_answers[0])
        if who == UNKNOWN:
            return UNKNOWN
        if who not in by_lower:
            raise ValueError(f"not a person in the facts: {sub_answers[0]!r}")
        return self._follow(problem, by_lower[who], problem.hops[-1:])

    def corrupt(self, problem: Chain, answer: str, u: float) -> str:
        names = sorted({a for a, _, _ in problem.facts} | {b for _, _, b in problem.facts})
        others = [n for n in names if n.lower() != normalise_answer(answer)]
        return others[int(u * len(others)) % len(others)]


TASK = MultiHop()


def multi_hop(seed: int = 0) -> TaskSet:
    """The built-in multi-hop set: ten chains at each difficulty, fixed by the seed."""
    return TASK.task_set(seed)
