"""What a decomposable task is: questions with an exact answer and an exact decomposition into sub-questions.

A task works on *problems* (small frozen dataclasses) and shows them as *question texts* that it can parse back.
Everything an agent or a protocol sees is text: :meth:`DecomposableTask.answer`, :meth:`~DecomposableTask.decompose`
and :meth:`~DecomposableTask.aggregate` take and return strings, so a scripted oracle can play from a prompt and
a property test can check that answering through the decomposition (recursively) equals answering directly.

Question texts put what varies first ("What is the value of d after …", "Are a and e connected, given …") and
the shared material (tables, facts, programs) after it, so a tree of them reads well when truncated.
"""

from __future__ import annotations

import random
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

from oversight.tasks.items import TaskItem, TaskSet

P = TypeVar("P")

DIFFICULTIES = (1, 2, 3, 4)

_NUMBER = re.compile(r"^[+-]?\d+(?:\.0+)?$")
_ANSWER_PREFIX = re.compile(r"^\s*(?:the\s+)?(?:final\s+)?answer\s*(?:is)?\s*[:：]?\s*", re.IGNORECASE)


def normalise_answer(text: str | int | None) -> str:
    """The form two answers are compared in: lower case, no brackets or commas, one space, integers canonical.

    ``"[3, 1, 0]"`` → ``"3 1 0"``; ``"Answer: Yes."`` → ``"yes"``; ``" 12.0 "`` → ``"12"``; ``"**Bo**"`` → ``"bo"``.
    """
    if text is None:
        return ""
    s = str(text).strip()
    s = _ANSWER_PREFIX.sub("", s, count=1)
    s = s.replace("**", "").replace("`", "")
    s = s.strip().strip("\"'").strip()
    s = s.rstrip(".!").strip().lower()
    s = re.sub(r"[,\[\]{}()]", " ", s)
    tokens = []
    for token in s.split():
        if _NUMBER.match(token):
            token = str(int(float(token)))
        tokens.append(token)
    return " ".join(tokens)


# -- final answers in sentences ---------------------------------------------------------------------------------
AnswerKind = Literal["number", "list", "yes/no", "name", "text"]

_NUM = r"(?<![\w.-])-?\d+(?:\.\d+)?(?!\w)"
_RUN = re.compile(rf"{_NUM}(?:(?:\s*,\s*|\s+){_NUM})*")
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
_CLAUSE_START = re.compile(r"(?:^|[.!?:;,(\n])[\s*_\"']*$")
_CLAUSE_END = re.compile(r"^[\s*_\"']*(?:[.!?:;,)\n]|$)")
_NAME = re.compile(r"(?<![\w'’])[A-Z][a-z]+(?!['’]s\b)(?![\w'’])")
#: capitalised words that open sentences rather than name anyone
_NOT_NAMES = frozenset(
    "The An It Its So Therefore Thus Hence Answer Final Yes No This That These He She They Then Since Because "
    "Who What Which Facts Step Sub First Next Finally Now Here We Let Given Following Question Sure".split()
)
#: what an answer follows: "answer", "is", "are", "equals", "=", ":"
_MARKER = re.compile(r"\b(?:answer|is|are|equals)\b|[=:：]", re.IGNORECASE)
#: words that make several candidates alternatives rather than steps towards one
_HEDGE = re.compile(r"\b(?:or|either|between|not|but|rather|instead|maybe|perhaps|unless|except)\b|n't", re.IGNORECASE)


def answer_kind(exact: str | int) -> AnswerKind:
    """How an exact answer is written, which decides how a reply is read: see :func:`extract_answer`."""
    normal = normalise_answer(exact)
    tokens = normal.split()
    if len(tokens) == 1 and _NUMBER.match(normal):
        return "number"
    if len(tokens) > 1 and all(_NUMBER.match(t) for t in tokens):
        return "list"
    if normal in ("yes", "no"):
        return "yes/no"
    if re.fullmatch(r"[A-Z][a-z]+", str(exact).strip()):
        return "name"
    return "text"


def _candidates(reply: str, kind: AnswerKind, size: int) -> list[tuple[int, int, str]]:
    """(start, end, normal form) of every stretch of the reply that is an answer of this kind."""
    if kind in ("number", "list"):
        runs = ((m, re.split(r"[\s,]+", m.group())) for m in _RUN.finditer(reply))
        return [(m.start(), m.end(), normalise_answer(" ".join(parts))) for m, parts in runs if len(parts) == size]
    if kind == "yes/no":
        return [
            (m.start(), m.end(), m.group().lower())
            for m in _YES_NO.finditer(reply)
            if _CLAUSE_START.search(reply[: m.start()]) or _CLAUSE_END.match(reply[m.end() :])
        ]
    if re.fullmatch(r"[a-z]+", whole := normalise_answer(reply)):
        return [(0, len(reply), whole)]  # a one-word reply is that word, whatever its case
    return [(m.start(), m.end(), m.group().lower()) for m in _NAME.finditer(reply) if m.group() not in _NOT_NAMES]


def extract_answer(reply: str, exact: str | int) -> str | None:
    """The reply's final answer in normal form, read as the exact answer is written; None when it gives none.

    A number, a list of numbers (as many as the exact answer has), a clause that is only "yes" or "no", or a
    capitalised word that is not a possessive (or a one-word reply): the reply's **last** such candidate. When the
    stretch from the last marker ("answer", "is", "are", "equals", "=", ":") before it holds other candidates too
    and a word that makes them alternatives ("or", "not", "but", "between", …), the reply hedges and has no answer,
    so "8, not 9" and "8 or 9" never count as 9. Any other exact answer is compared with the whole reply in normal
    form.
    """
    kind = answer_kind(exact)
    if kind == "text":
        return normalise_answer(reply) or None
    candidates = _candidates(reply, kind, len(normalise_answer(exact).split()))
    if not candidates:
        return None
    start, _, answer = candidates[-1]
    opening = max((m.end() for m in _MARKER.finditer(reply, 0, start)), default=0)
    rivals = {normal for begin, _, normal in candidates if begin >= opening} - {answer}
    if rivals and _HEDGE.search(reply, opening):
        return None
    return answer


def answers_match(reply: str, exact: str | int) -> bool:
    """Whether a reply's final answer (:func:`extract_answer`) is the exact answer."""
    return extract_answer(reply, exact) == normalise_answer(exact)


def canonical_question(text: str) -> str:
    """The memo key of a question: case, spacing and trailing punctuation do not make a new question."""
    return " ".join(text.lower().split()).rstrip(" ?.!")


def read_int(text: str) -> int:
    """An integer sub-answer, leniently: ``"12"``, ``"-3"``, ``"Answer: 7."`` (ValueError otherwise)."""
    value = normalise_answer(text)
    if not _NUMBER.match(value):
        raise ValueError(f"not an integer: {text!r}")
    return int(value)


class DecomposableTask(ABC, Generic[P]):
    """One family of questions. Subclasses implement the problem-level methods; the text API is built on them."""

    #: the registered task name (``oversight run ida --task NAME``)
    name: ClassVar[str]
    description: ClassVar[str]
    #: what the difficulty knob changes, for the task listing and the docs
    difficulty_means: ClassVar[str]

    # -- problems -------------------------------------------------------------------------------------------
    @abstractmethod
    def generate(self, rng: random.Random, difficulty: int) -> P:
        """A random problem of this difficulty (1 = easiest); deterministic given the generator's state."""

    @abstractmethod
    def render(self, problem: P) -> str:
        """The problem as a one-line question text that :meth:`parse` reads back to the same problem."""

    @abstractmethod
    def parse(self, text: str) -> P | None:
        """The problem a question text states, or None when the text is not a well-formed question of this task."""

    @abstractmethod
    def solve(self, problem: P) -> str:
        """The exact answer, computed directly (not through the decomposition)."""

    @abstractmethod
    def split(self, problem: P) -> list[P] | None:
        """The exact decomposition into strictly smaller problems, or None when the problem is a leaf."""

    @abstractmethod
    def combine(self, problem: P, sub_answers: Sequence[str]) -> str:
        """The answer from the sub-problems' answers (in :meth:`split` order); ValueError if one is unreadable.

        Well-formed but wrong sub-answers give the answer they imply: that is how errors travel up a tree.
        """

    @abstractmethod
    def corrupt(self, problem: P, answer: str, u: float) -> str:
        """A well-formed answer that differs from ``answer``, chosen by ``u`` in [0, 1)."""

    # -- text -----------------------------------------------------------------------------------------------
    def _problem(self, question: str) -> P:
        problem = self.parse(question)
        if problem is None:
            raise ValueError(f"not a {self.name} question: {question[:80]!r}")
        return problem

    def answer(self, question: str) -> str:
        """The exact answer to a question text of this task (ValueError if the text is not one)."""
        return self.solve(self._problem(question))

    def decompose(self, question: str) -> list[str] | None:
        """The question texts of the exact decomposition, or None when the question is a leaf."""
        subs = self.split(self._problem(question))
        return None if subs is None else [self.render(sub) for sub in subs]

    def aggregate(self, question: str, sub_answers: Sequence[str]) -> str:
        """The answer to a question from its sub-questions' answers (in :meth:`decompose` order); ValueError when their
        number is wrong or one is unreadable."""
        problem = self._problem(question)
        subs = self.split(problem)
        if subs is None or len(subs) != len(sub_answers):
            raise ValueError(f"{self.name}: expected {len(subs or [])} sub-answers, got {len(sub_answers)}")
        return self.combine(problem, sub_answers)

    def wrong_answer(self, question: str, u: float) -> str:
        """A well-formed wrong answer to a question text, chosen by ``u`` in [0, 1): what a noisy oracle gives when
        it errs."""
        problem = self._problem(question)
        return self.corrupt(problem, self.solve(problem), u)

    # -- task sets ------------------------------------------------------------------------------------------
    def item(self, seed: int, index: int, difficulty: int) -> TaskItem:
        """The ``index``-th item of this difficulty, fixed by the seed, with the exact answer and the shape of its
        decomposition in ``meta``."""
        rng = random.Random(f"{self.name}/{seed}/{difficulty}/{index}")
        problem = self.generate(rng, difficulty)
        question = self.render(problem)
        shape = tree_shape(self, question)
        return TaskItem(
            id=f"{self.name}-{index:03d}-d{difficulty}",
            question=question,
            answer=self.solve(problem),
            meta={"task": self.name, "difficulty": difficulty, **shape},
        )

    def task_set(
        self, seed: int = 0, difficulties: Sequence[int] = DIFFICULTIES, per_difficulty: int = 10
    ) -> TaskSet:
        """Items interleaved by difficulty (d1, d2, d3, d4, d1, …), so ``--limit 8`` still covers every level."""
        items = [self.item(seed, i, d) for i in range(per_difficulty) for d in difficulties]
        return TaskSet(name=self.name, items=items, description=f"{self.description} ({self.difficulty_means})")


@dataclass
class _Shape:
    height: int = 0
    nodes: int = 0
    leaves: int = 0


def tree_shape(task: DecomposableTask[Any], question: str) -> dict[str, int]:
    """The exact decomposition's height, and its distinct nodes and leaves (as a memoizing tree would see them)."""
    heights: dict[str, int] = {}
    leaves: set[str] = set()

    def visit(q: str) -> int:
        key = canonical_question(q)
        if key not in heights:
            subs = task.decompose(q)
            if subs is None:
                leaves.add(key)
                heights[key] = 0
            else:
                heights[key] = 1 + max(visit(s) for s in subs)
        return heights[key]

    height = visit(question)
    return {"height": height, "nodes": len(heights), "leaves": len(leaves)}


def answer_by_decomposition(task: DecomposableTask[Any], question: str, max_depth: int = 64) -> str:
    """Answer through the exact decomposition, recursively, with every step going through question texts."""
    if max_depth < 0:
        raise RecursionError(f"{task.name}: decomposition deeper than expected at {question[:80]!r}")
    subs = task.decompose(question)
    if subs is None:
        return task.answer(question)
    return task.aggregate(question, [answer_by_decomposition(task, s, max_depth - 1) for s in subs])
