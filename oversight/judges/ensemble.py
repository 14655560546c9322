"""Several judges deciding together: probabilities averaged (``mean``) or one vote each (``majority``)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Literal

from oversight.draws import draw
from oversight.judges.base import Judge, JudgeContext, JudgeView
from oversight.records import Verdict

SEPARATOR = " + "


class EnsembleJudge:
    """Several judges deciding each game together, by ``mean`` probability or ``majority`` vote."""

    def __init__(self, members: list[Judge], method: Literal["mean", "majority"] = "mean") -> None:
        self.members = members
        self.method = method

    @property
    def uses_terminal(self) -> bool:
        """Whether a member judges in the terminal (the run then shows no live progress bar)."""
        return any(getattr(member, "uses_terminal", False) for member in self.members)

    def describe(self) -> str:
        """The members' names joined by ``+``, as a ``--judge`` list is written."""
        return SEPARATOR.join(m.describe() for m in self.members)

    def model_specs(self) -> list[str]:
        """Every member's models."""
        return [spec for member in self.members for spec in member.model_specs()]

    async def decide(self, view: JudgeView, ctx: JudgeContext) -> Verdict:
        """The members' verdicts combined; invalid ones are left out, and none valid makes an invalid verdict."""
        verdicts = await asyncio.gather(*(m.decide(view, ctx) for m in self.members))
        valid = [v for v in verdicts if v.choice is not None]
        raw = "\n".join(f"[{m.describe()}] {v.raw}" for m, v in zip(self.members, verdicts, strict=True))
        if not valid:
            return Verdict(choice=None, raw=raw)
        n = len(view.choices)
        if self.method == "majority":
            votes = Counter(v.choice for v in valid)
            probabilities = [votes[i] / len(valid) for i in range(n)]
        else:
            rows = [v.probabilities or [float(i == v.choice) for i in range(n)] for v in valid]
            probabilities = [sum(row[i] for row in rows) / len(rows) for i in range(n)]
        best = max(probabilities)
        tied = [i for i in range(n) if probabilities[i] == best]
        # a tied vote is settled by a draw fixed by what the judges were shown, never by choice order
        choice = tied[0] if len(tied) == 1 else draw(tied, "ensemble-tie", view.model_dump_json())
        return Verdict(
            choice=choice, probabilities=probabilities, source=f"ensemble-{self.method}", raw=raw,
            tie_broken=len(tied) > 1,
        )

    async def ask(self, view: JudgeView, ctx: JudgeContext) -> str | None:
        """The first question a member asks, in member order."""
        # the first member that has a question asks it
        for member in self.members:
            if (question := await member.ask(view, ctx)) is not None:
                return question
        return None
