"""The judge interface: a judge sees exactly what its protocol shows it and returns a verdict.

Write your own judge as any object with ``async decide(view, ctx) -> Verdict`` (``ctx`` lets it ask the run's
models; ignore it if you don't need one), or as a plain function ``(view) -> Verdict``, sync or async. A judge
that also defines ``async ask(view, ctx) -> str | None`` can question the debaters in ``interactive-debate``.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from oversight.records import Verdict

if TYPE_CHECKING:
    from oversight.protocol import GameContext


class JudgeTurn(BaseModel):
    """One thing said in front of the judge."""

    #: "Debater A", "Consultant", "Judge" …
    speaker: str
    seat: str | None = None
    round: int | None = None
    kind: Literal["argument", "question"] = "argument"
    #: index into ``choices`` of the answer the speaker argues for (None for the judge's own questions)
    defends: int | None = None
    #: the text with every quote marked ``<quote verified>`` or ``<quote unverified>``
    content: str


class JudgeView(BaseModel):
    """Everything the judge is allowed to know about a game — and nothing else."""

    protocol: str
    question: str
    choices: list[str]
    #: "A", "B", … in the order of ``choices``
    labels: list[str]
    turns: list[JudgeTurn] = Field(default_factory=list)
    #: the hidden passage, only for protocols that show it to the judge (``expert``)
    passage: str | None = None
    round: int = 0
    rounds: int = 0


@runtime_checkable
class Judge(Protocol):
    """What the engine calls. ``describe()`` names the judge in records."""

    def describe(self) -> str: ...

    def model_specs(self) -> list[str]: ...

    async def decide(self, view: JudgeView, ctx: GameContext) -> Verdict: ...

    async def ask(self, view: JudgeView, ctx: GameContext) -> str | None: ...


class PluginJudge:
    """Adapts a user's judge (an object with ``decide`` or a plain function) to :class:`Judge`."""

    def __init__(self, target: Any, name: str) -> None:
        self._target = target
        self._name = name

    def describe(self) -> str:
        return self._name

    def model_specs(self) -> list[str]:
        return list(getattr(self._target, "model_specs", lambda: [])())

    async def _call(self, fn: Any, *args: Any) -> Any:
        # a user's function may take (view) or (view, ctx), and may be sync or async
        params = inspect.signature(fn).parameters
        result = fn(*args[: max(1, len(params))])
        return await result if asyncio.iscoroutine(result) else result

    async def decide(self, view: JudgeView, ctx: GameContext) -> Verdict:
        fn = getattr(self._target, "decide", self._target)
        verdict = await self._call(fn, view, ctx)
        if not isinstance(verdict, Verdict):
            raise TypeError(f"judge {self._name} returned {type(verdict).__name__}, not a Verdict")
        return verdict

    async def ask(self, view: JudgeView, ctx: GameContext) -> str | None:
        fn = getattr(self._target, "ask", None)
        return None if fn is None else await self._call(fn, view, ctx)
