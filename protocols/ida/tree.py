"""The amplification tree: nodes, budgets, memoization and reading the agents' replies.

A node holds a question and a budget. It asks the ``decomposer``, which answers directly (``ANSWER: …``) or
returns sub-questions (``SUB: …`` lines, or a JSON list). Sub-questions become child nodes that run at once;
the ``aggregator`` combines their answers. A node that may not decompose — at the depth limit, out of budget, or
after two unreadable replies — is answered by the ``answerer`` in one call, and its record says why.

**Budgets.** Every call is paid from the node's budget and, through it, from every ancestor's: a child's budget
is ``child_share`` × its parent's, and the root's is ``max_calls``, so no tree ever makes more than ``max_calls``
calls. Each node holds one call in reserve from the moment it exists, so it can always answer; the decomposer
call, a retry and the children's reserves are taken only if every budget on the way up allows them (all
children or none). A node whose answer comes from the memo hands its reserve back.

**Memoization** is on the canonical question (case, spacing and trailing punctuation ignored) and the phase.
Within a tree a repeated question waits for the node already working on it — unless that node is (indirectly)
waiting on the asker, which would deadlock; then it is worked on again. Across the run, answers of finished
nodes of other trees are reused (never for a root, so every item builds its own tree).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from oversight.tasks.decomposable import canonical_question

Step = Literal["decompose", "decompose-retry", "answer", "aggregate"]

_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_SUB_LINE = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:\d+[.)]\s*)?\**\s*sub(?:[-_ ]?question)?\s*\d*\s*\**\s*[:：]\s*\**\s*(.+?)\s*$", re.IGNORECASE
)
_ANSWER_LINE = re.compile(r"^\s*\**\s*(?:final\s+)?answer\s*\**\s*[:：]\s*\**\s*(.*?)\s*\**\s*$", re.IGNORECASE)


# -- reading replies ---------------------------------------------------------------------------------------------
@dataclass
class Decomposition:
    """A decomposer's reply as read: a direct answer, a list of sub-questions, or malformed when it is neither."""

    kind: Literal["answer", "subquestions", "malformed"]
    answer: str | None = None
    subquestions: list[str] = field(default_factory=list)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _from_json(body: str) -> Decomposition | None:
    candidates = [body]
    for opening, closing in ("[]", "{}"):
        start, end = body.find(opening), body.rfind(closing)
        if 0 <= start < end:
            candidates.append(body[start : end + 1])
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict):
            for key in ("subquestions", "sub_questions", "sub-questions", "subs", "questions"):
                if isinstance(data.get(key), list):
                    data = data[key]
                    break
            else:
                if isinstance(data.get("answer"), str | int | float) and _one_line(str(data["answer"])):
                    return Decomposition("answer", answer=_one_line(str(data["answer"])))
                continue
        if isinstance(data, list) and data and all(isinstance(q, str) for q in data):
            subs = [_one_line(q) for q in data if _one_line(q)]
            if subs:
                return Decomposition("subquestions", subquestions=subs)
    return None


def parse_decomposition(text: str) -> Decomposition:
    """``SUB:`` lines (or a JSON list of strings) → sub-questions; else an ``ANSWER:`` line; else malformed.

    Lenient about the usual decorations: numbering, bullets, bold, ``Sub-question 2:``, code fences,
    ``{"subquestions": [...]}`` or ``{"answer": ...}``.
    """
    body = _FENCE.sub("", text.strip()).strip()
    subs = [_one_line(m.group(1)) for line in body.splitlines() if (m := _SUB_LINE.match(line))]
    subs = [s for s in subs if s]
    if subs:
        return Decomposition("subquestions", subquestions=subs)
    answers = [m.group(1) for line in body.splitlines() if (m := _ANSWER_LINE.match(line))]
    if answers and _one_line(answers[-1]):
        return Decomposition("answer", answer=_one_line(answers[-1]))
    return _from_json(body) or Decomposition("malformed")


def parse_answer(text: str) -> tuple[str, bool]:
    """The last ``ANSWER:`` line's value, or else the last non-empty line; and whether the format was followed."""
    lines = [line for line in _FENCE.sub("", text.strip()).splitlines() if line.strip()]
    for line in reversed(lines):
        if (m := _ANSWER_LINE.match(line)) and m.group(1).strip():
            return _one_line(m.group(1)), True
    return (_one_line(lines[-1]) if lines else ""), False


# -- budgets -------------------------------------------------------------------------------------------------------
class Budget:
    """Calls a subtree may make. ``used`` counts calls made and calls held in reserve, in this subtree."""

    def __init__(self, cap: int, parent: Budget | None = None) -> None:
        self.cap = cap
        self.parent = parent
        self.used = 0

    def _chain(self) -> Iterable[Budget]:
        budget: Budget | None = self
        while budget is not None:
            yield budget
            budget = budget.parent

    def take(self, calls: int = 1) -> bool:
        """Take calls if this budget and every ancestor's allow it (no await between check and take)."""
        chain = list(self._chain())
        if any(b.used + calls > b.cap for b in chain):
            return False
        for b in chain:
            b.used += calls
        return True

    def give_back(self, calls: int = 1) -> None:
        """Return calls held in reserve to this budget and every ancestor's."""
        for b in self._chain():
            b.used -= calls


# -- nodes ---------------------------------------------------------------------------------------------------------
@dataclass
class Node:
    """One question of the tree: its budget, the sub-questions and children it was split into, how it got its
    answer, and the calls and tokens it spent."""

    id: str
    parent: Node | None
    depth: int
    question: str
    budget: Budget
    key: str = ""
    subquestions: list[str] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    answer: str | None = None
    #: "decomposed", "answered" (the decomposer answered directly), "forced" (the answerer had to), "memo"
    mode: str = ""
    #: why a node was forced to answer directly: "max_depth", "budget", "malformed"
    reason: str | None = None
    memo: str | None = None
    memo_of: dict[str, str] | None = None
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    malformed: int = 0
    answer_format_ok: bool = True
    turns: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    waits_on: Node | None = None
    done: bool = False
    future: asyncio.Future[str] | None = None

    def __post_init__(self) -> None:
        self.key = canonical_question(self.question)

    def ancestors(self) -> Iterable[Node]:
        """The node's parent, its parent's parent and so on up to the root."""
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def record(self, exact: str | None, extracted: str | None, correct: bool | None) -> dict[str, Any]:
        """The node as written to the record: ``answer`` as given, ``extracted`` as compared with ``exact``."""
        return {
            "id": self.id,
            "parent": self.parent.id if self.parent else None,
            "depth": self.depth,
            "question": self.question,
            "subquestions": self.subquestions,
            "children": [c.id for c in self.children],
            "answer": self.answer,
            "mode": self.mode,
            "reason": self.reason,
            "memo": self.memo,
            "memo_of": self.memo_of,
            "calls": self.calls,
            "tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens},
            "budget": self.budget.cap,
            "spent": self.budget.used,
            "malformed": self.malformed,
            "answer_format_ok": self.answer_format_ok,
            "turns": self.turns,
            "notes": self.notes,
            "exact": exact,
            "extracted": extracted,
            "correct": correct,
        }


def can_wait(asker_parent: Node, owner: Node) -> bool:
    """Whether a new child of ``asker_parent`` may wait for ``owner`` without closing a cycle of waits."""
    stack, seen = [owner], set()
    while stack:
        node = stack.pop()
        if node is asker_parent:
            return False
        if node.done or id(node) in seen:
            continue
        seen.add(id(node))
        stack.extend(node.children)
        if node.waits_on is not None:
            stack.append(node.waits_on)
    return True


async def gather_or_cancel(awaitables: list[Awaitable[str]]) -> list[str]:
    """Run concurrently; if one fails, cancel the rest (no orphaned calls) and raise its exception as is."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def order_key(node_id: str) -> tuple[int, ...]:
    """A dotted node id (``0.2.10``) as numbers, so that nodes sort in tree order (``0.2.9`` before ``0.2.10``)."""
    return tuple(int(part) for part in node_id.split("."))
