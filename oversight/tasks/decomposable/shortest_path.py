"""Shortest path (Christiano et al. 2018): the cheapest path between two nodes of a weighted digraph in ≤ k edges.

``What is the cost of the cheapest path from A to E that uses at most 3 edges, in the directed graph with edges
A->B costs 4, …? Answer none if there is no such path.`` Bellman–Ford on the last edge: the sub-questions are the
same question with k-1 edges to the target and to each node with an edge into it; the aggregate takes the minimum
over "stay" and "arrive through that edge". k = 1, or source = target, is a leaf. Sub-questions overlap heavily
across branches, so a memoizing tree asks each only once.
"""

from __future__ import annotations

import heapq
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from oversight.tasks.decomposable.base import DecomposableTask, normalise_answer, read_int
from oversight.tasks.items import TaskSet

_QUESTION = re.compile(
    r"^What is the cost of the cheapest path from ([A-Z]) to ([A-Z]) that uses at most (\d+) edges?, in the "
    r"directed graph with edges (.+?)\? Answer none if there is no such path\.?$"
)
_EDGE = re.compile(r"^([A-Z])->([A-Z]) costs (\d+)$")
NONE = "none"
NODES = 6


@dataclass(frozen=True)
class Path:
    """The weighted edges as ``(from, to, cost)``, the two end nodes, and the most edges a path may use."""

    edges: tuple[tuple[str, str, int], ...]
    source: str
    target: str
    k: int


def read_cost(text: str) -> int | None:
    """A written path cost, or None for an answer saying there is no path (``none``, ``no path``, ``infinity``);
    ValueError when it is neither."""
    value = normalise_answer(text)
    if value in (NONE, "no path", "infinity", "inf"):
        return None
    return read_int(value)


def _show(cost: int | None) -> str:
    return NONE if cost is None else str(cost)


class ShortestPath(DecomposableTask[Path]):
    """The cheapest path in at most k edges; a question splits into the same question with k-1 edges to the target
    and to each node with an edge into it, and the aggregate takes the cheapest way to arrive."""

    name: ClassVar[str] = "shortest-path"
    description: ClassVar[str] = "cost of the cheapest path in a weighted digraph using at most k edges"
    difficulty_means: ClassVar[str] = "difficulty d: at most d+1 edges, 6 nodes"

    def generate(self, rng: random.Random, difficulty: int) -> Path:
        names = [chr(ord("A") + i) for i in range(NODES)]
        k = difficulty + 1
        while True:
            edges: dict[tuple[str, str], int] = {}
            for v in names:
                for u in rng.sample([x for x in names if x != v], rng.randint(1, 2)):
                    edges[(u, v)] = rng.randint(1, 9)
            source, target = rng.sample(names, 2)
            problem = Path(tuple((u, v, w) for (u, v), w in sorted(edges.items())), source, target, k)
            if self.solve(problem) != NONE:
                return problem

    def render(self, problem: Path) -> str:
        edges = ", ".join(f"{u}->{v} costs {w}" for u, v, w in problem.edges)
        plural = "edge" if problem.k == 1 else "edges"
        return (
            f"What is the cost of the cheapest path from {problem.source} to {problem.target} that uses at most "
            f"{problem.k} {plural}, in the directed graph with edges {edges}? Answer none if there is no such path."
        )

    def parse(self, text: str) -> Path | None:
        match = _QUESTION.match(text.strip())
        if not match:
            return None
        found = [_EDGE.match(part.strip()) for part in match.group(4).split(",")]
        if not all(found):
            return None
        edges = tuple((m.group(1), m.group(2), int(m.group(3))) for m in found if m)
        if len({(u, v) for u, v, _ in edges}) != len(edges):
            return None
        k = int(match.group(3))
        return Path(edges, match.group(1), match.group(2), k) if k >= 1 else None

    def solve(self, problem: Path) -> str:
        # Dijkstra over (node, edges used): a different road to the same number than the decomposition's
        best: dict[tuple[str, int], int] = {}
        queue = [(0, 0, problem.source)]
        out: dict[str, list[tuple[str, int]]] = {}
        for u, v, w in problem.edges:
            out.setdefault(u, []).append((v, w))
        k = min(problem.k, len({x for e in problem.edges for x in e[:2]}) + 1)
        while queue:
            cost, used, node = heapq.heappop(queue)
            if node == problem.target:
                return str(cost)
            if best.get((node, used), cost + 1) <= cost or used >= k:
                continue
            best[(node, used)] = cost
            for nxt, w in out.get(node, []):
                heapq.heappush(queue, (cost + w, used + 1, nxt))
        return NONE

    def split(self, problem: Path) -> list[Path] | None:
        if problem.k == 1 or problem.source == problem.target:
            return None
        into = sorted({u for u, v, _ in problem.edges if v == problem.target and u != problem.target})
        shorter = problem.k - 1
        return [Path(problem.edges, problem.source, node, shorter) for node in [problem.target, *into]]

    def combine(self, problem: Path, sub_answers: Sequence[str]) -> str:
        costs = [read_cost(answer) for answer in sub_answers]
        weights = {(u, v): w for u, v, w in problem.edges}
        into = sorted({u for u, v, _ in problem.edges if v == problem.target and u != problem.target})
        options = [costs[0]] + [
            None if cost is None else cost + weights[(u, problem.target)]
            for u, cost in zip(into, costs[1:], strict=True)
        ]
        reachable = [c for c in options if c is not None]
        return _show(min(reachable) if reachable else None)

    def corrupt(self, problem: Path, answer: str, u: float) -> str:
        cost = read_cost(answer)
        if cost is None:
            return str(1 + int(u * 9))
        offset = 1 + int(u * 10) % 3
        return str(cost + offset if u < 0.7 or cost - offset < 0 else cost - offset)


TASK = ShortestPath()


def shortest_path(seed: int = 0) -> TaskSet:
    """The built-in shortest-path set: ten graphs at each difficulty, fixed by the seed, each with a path."""
    return TASK.task_set(seed)
