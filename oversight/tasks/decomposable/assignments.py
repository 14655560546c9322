"""Sequential assignments (Christiano et al. 2018): the value of a variable after a program of assignments.

``What is the value of d after running these assignments in order: a = 4; b = a + 3; a = b - 1; d = a + b?``
The sub-questions ask for each variable the target's last assignment reads, each over the program cut just after
that variable's own last assignment before it (so every node asking for the same value asks the same question);
the aggregate applies the assignment's operator. An assignment from literals only is a leaf.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from oversight.tasks.decomposable.base import DecomposableTask, read_int, tree_shape
from oversight.tasks.items import TaskSet

_QUESTION = re.compile(r"^What is the value of ([a-z]\w*) after running these assignments in order: (.+?)\s*\?$")
_STATEMENT = re.compile(r"^([a-z]\w*) = (-?\d+|[a-z]\w*)(?: ([+-]) (-?\d+|[a-z]\w*))?$")
_NAMES = "abcdefgh"
LIMIT = 99


@dataclass(frozen=True)
class Assign:
    """One statement, ``target = left`` or ``target = left op right``, where an operand is a variable name or an
    integer literal (as text)."""

    target: str
    left: str
    op: str | None = None
    right: str | None = None

    def operands(self) -> list[str]:
        """The statement's operands in order, variables and literals alike."""
        return [x for x in (self.left, self.right) if x is not None]

    def show(self) -> str:
        """The statement as a question writes it, e.g. ``b = a + 3``."""
        tail = f" {self.op} {self.right}" if self.op else ""
        return f"{self.target} = {self.left}{tail}"


@dataclass(frozen=True)
class Program:
    """The statements in the order they run, and the variable whose final value is asked for."""

    statements: tuple[Assign, ...]
    target: str


def _is_var(atom: str) -> bool:
    return atom[0].isalpha()


def _apply(statement: Assign, values: dict[str, int]) -> int:
    def value(atom: str) -> int:
        return values[atom] if _is_var(atom) else int(atom)

    result = value(statement.left)
    if statement.op == "+":
        result += value(statement.right or "0")
    elif statement.op == "-":
        result -= value(statement.right or "0")
    return result


def run(statements: Sequence[Assign]) -> dict[str, int]:
    """Every variable's value after running the statements in order."""
    values: dict[str, int] = {}
    for statement in statements:
        values[statement.target] = _apply(statement, values)
    return values


def _last_assignment(statements: Sequence[Assign], var: str, before: int) -> int:
    return max(i for i in range(before) if statements[i].target == var)


class SequentialAssignments(DecomposableTask[Program]):
    """Programs of ``+``/``-`` assignments over a few variables; a question splits into the variables its target's
    last assignment reads, each asked over the program as it stood then."""

    name: ClassVar[str] = "sequential-assignments"
    description: ClassVar[str] = "the value of a variable after a sequence of assignments"
    difficulty_means: ClassVar[str] = "difficulty = dependency depth 1-4 over 3d+2 statements"

    def _program(self, rng: random.Random, difficulty: int) -> Program:
        names = _NAMES[: 3 + difficulty]
        statements: list[Assign] = []
        defined: list[str] = []
        for _ in range(3 * difficulty + 2):
            target = rng.choice(names)

            def atom() -> str:
                if defined and rng.random() < 0.75:
                    return rng.choice(defined)
                return str(rng.randint(1, 9))

            shape = rng.random()
            if not defined or shape < 0.1:
                statement = Assign(target, str(rng.randint(1, 9)))
            elif shape < 0.25:
                statement = Assign(target, rng.choice(defined))
            else:
                statement = Assign(target, atom(), rng.choice("+-"), atom())
            statements.append(statement)
            if target not in defined:
                defined.append(target)
        return Program(tuple(statements), statements[-1].target)

    def generate(self, rng: random.Random, difficulty: int) -> Program:
        while True:
            program = self._program(rng, difficulty)
            prefixes = [run(program.statements[: i + 1]) for i in range(len(program.statements))]
            if any(abs(v) > LIMIT for values in prefixes for v in values.values()):
                continue
            if tree_shape(self, self.render(program))["height"] == difficulty:
                return program

    def render(self, problem: Program) -> str:
        program = "; ".join(s.show() for s in problem.statements)
        return f"What is the value of {problem.target} after running these assignments in order: {program}?"

    def parse(self, text: str) -> Program | None:
        match = _QUESTION.match(text.strip())
        if not match:
            return None
        statements = []
        defined: set[str] = set()
        for part in match.group(2).split(";"):
            m = _STATEMENT.match(part.strip())
            if not m:
                return None
            statement = Assign(m.group(1), m.group(2), m.group(3), m.group(4))
            if any(_is_var(x) and x not in defined for x in statement.operands()):
                return None  # reads a variable before it has a value
            statements.append(statement)
            defined.add(statement.target)
        if match.group(1) not in defined:
            return None
        return Program(tuple(statements), match.group(1))

    def solve(self, problem: Program) -> str:
        return str(run(problem.statements)[problem.target])

    def split(self, problem: Program) -> list[Program] | None:
        statements = problem.statements
        last = _last_assignment(statements, problem.target, len(statements))
        variables = list(dict.fromkeys(x for x in statements[last].operands() if _is_var(x)))
        if not variables:
            return None
        return [
            Program(statements[: _last_assignment(statements, var, last) + 1], var) for var in variables
        ]

    def combine(self, problem: Program, sub_answers: Sequence[str]) -> str:
        statements = problem.statements
        statement = statements[_last_assignment(statements, problem.target, len(statements))]
        variables = list(dict.fromkeys(x for x in statement.operands() if _is_var(x)))
        values = {var: read_int(answer) for var, answer in zip(variables, sub_answers, strict=True)}
        return str(_apply(statement, values))

    def corrupt(self, problem: Program, answer: str, u: float) -> str:
        offset = 1 + int(u * 10) % 5
        return str(read_int(answer) + (offset if u < 0.5 else -offset))


TASK = SequentialAssignments()


def sequential_assignments(seed: int = 0) -> TaskSet:
    """The built-in sequential-assignments set: ten programs at each dependency depth, fixed by the seed."""
    return TASK.task_set(seed)
