"""Nested arithmetic (Gao et al. 2021): integer expressions of +, - and * nested to a given depth.

``What is the value of the arithmetic expression (3 + 4) * (9 - (2 * 3))?`` A sub-question is each parenthesised
operand of the outermost operator; the aggregate applies that operator to the literals and the sub-answers.
Depth 1 is one operator over literals (a leaf); every intermediate value stays within ±999.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from oversight.tasks.decomposable.base import DecomposableTask, read_int
from oversight.tasks.items import TaskSet


@dataclass(frozen=True)
class Num:
    """An integer literal in an expression."""

    value: int


@dataclass(frozen=True)
class Op:
    """One operator over two or more operands; ``-`` subtracts every later operand from the first."""

    op: str
    args: tuple[Expr, ...]


Expr = Num | Op

_QUESTION = re.compile(r"^What is the value of the arithmetic expression (.+?)\s*\?$")
_TOKEN = re.compile(r"\s*(\d+|[-+*()])")
LIMIT = 999


def evaluate(expr: Expr) -> int:
    """The exact integer value of an expression."""
    if isinstance(expr, Num):
        return expr.value
    values = [evaluate(a) for a in expr.args]
    if expr.op == "+":
        return sum(values)
    if expr.op == "*":
        return math.prod(values)
    return values[0] - sum(values[1:])


def depth(expr: Expr) -> int:
    """How deeply operators nest: 0 for a literal, 1 for one operator over literals."""
    return 0 if isinstance(expr, Num) else 1 + max(depth(a) for a in expr.args)


def show(expr: Expr, top: bool = True) -> str:
    """The expression as a question writes it: every operation and negative literal below the top level is
    parenthesised, so :class:`_Parser` reads it back to the same tree."""
    if isinstance(expr, Num):
        return str(expr.value) if expr.value >= 0 or top else f"({expr.value})"
    text = f" {expr.op} ".join(show(a, top=False) for a in expr.args)
    return text if top else f"({text})"


class _Parser:
    """Standard precedence; a run of one operator is one n-ary node, a mixed run folds to the left."""

    def __init__(self, text: str) -> None:
        self.tokens: list[str] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if not match:
                raise ValueError(f"unexpected {text[pos:pos + 10]!r}")
            self.tokens.append(match.group(1))
            pos = match.end()
            while pos < len(text) and text[pos].isspace():
                pos += 1
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ValueError("unexpected end")
        self.pos += 1
        return token

    def parse(self) -> Expr:
        expr = self.level(("+", "-"))
        if self.peek() is not None:
            raise ValueError(f"unexpected {self.peek()!r}")
        return expr

    def level(self, ops: tuple[str, ...]) -> Expr:
        lower = (lambda: self.level(("*",))) if ops != ("*",) else self.atom
        args = [lower()]
        seen: list[str] = []
        while self.peek() in ops:
            seen.append(self.take())
            args.append(lower())
        if not seen:
            return args[0]
        if len(set(seen)) == 1:
            return Op(seen[0], tuple(args))
        expr = args[0]
        for op, arg in zip(seen, args[1:], strict=True):
            expr = Op(op, (expr, arg))
        return expr

    def atom(self) -> Expr:
        token = self.take()
        if token == "(":
            expr = self.level(("+", "-"))
            if self.take() != ")":
                raise ValueError("missing )")
            return expr
        if token == "-" and (self.peek() or "").isdigit():
            return Num(-int(self.take()))
        if token.isdigit():
            return Num(int(token))
        raise ValueError(f"unexpected {token!r}")


def _bounded(expr: Expr) -> bool:
    if isinstance(expr, Num):
        return True
    return abs(evaluate(expr)) <= LIMIT and all(_bounded(a) for a in expr.args)


class NestedArithmetic(DecomposableTask[Expr]):
    """Integer expressions of +, - and *; a question splits into the operations among the outermost operator's
    operands, and the literals stay in the aggregate."""

    name: ClassVar[str] = "nested-arithmetic"
    description: ClassVar[str] = "integer expressions of +, - and * with an exact value"
    difficulty_means: ClassVar[str] = "difficulty = nesting depth 1-4"

    def _expr(self, rng: random.Random, d: int) -> Expr:
        if d == 0:
            return Num(rng.randint(1, 9))
        op = rng.choice("+-*")
        n = 3 if op == "+" and rng.random() < 0.3 else 2
        main = rng.randrange(n)
        args = []
        for i in range(n):
            if i == main:
                args.append(self._expr(rng, d - 1))
            elif d > 1 and rng.random() < 0.4:
                args.append(self._expr(rng, rng.randrange(1, d)))
            else:
                args.append(Num(rng.randint(1, 9)))
        return Op(op, tuple(args))

    def generate(self, rng: random.Random, difficulty: int) -> Expr:
        while True:
            expr = self._expr(rng, difficulty)
            if _bounded(expr):
                return expr

    def render(self, problem: Expr) -> str:
        return f"What is the value of the arithmetic expression {show(problem)}?"

    def parse(self, text: str) -> Expr | None:
        match = _QUESTION.match(text.strip())
        if not match:
            return None
        try:
            return _Parser(match.group(1)).parse()
        except ValueError:
            return None

    def solve(self, problem: Expr) -> str:
        return str(evaluate(problem))

    def split(self, problem: Expr) -> list[Expr] | None:
        if isinstance(problem, Num):
            return None
        subs: list[Expr] = [a for a in problem.args if isinstance(a, Op)]
        return subs or None

    def combine(self, problem: Expr, sub_answers: Sequence[str]) -> str:
        assert isinstance(problem, Op)
        answers = iter(sub_answers)
        values = [Num(read_int(next(answers))) if isinstance(a, Op) else a for a in problem.args]
        return str(evaluate(Op(problem.op, tuple(values))))

    def corrupt(self, problem: Expr, answer: str, u: float) -> str:
        offset = 1 + int(u * 10) % 5
        return str(read_int(answer) + (offset if u < 0.5 else -offset))


TASK = NestedArithmetic()


def nested_arithmetic(seed: int = 0) -> TaskSet:
    """The built-in nested-arithmetic set: ten expressions at each nesting depth, fixed by the seed."""
    return TASK.task_set(seed)
