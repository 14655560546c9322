"""The judge interface: a judge sees exactly what its protocol shows it and returns a verdict.

Write your own judge as any object with ``async decide(view, ctx) -> Verdict`` (``ctx`` lets it ask the run's
models; ignore it if you don't need one), or as a plain function ``(view) -> Verdict``, sync or async. A judge
that also defines ``async ask(view, ctx) -> str | None`` can question the debaters in ``interactive-debate``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, Field

from oversight.models.base import Completion, GenerationSettings
from oversight.records import Verdict

#: what a caller reads a reply as (a verdict, a ruling, …)
Reading = TypeVar("Reading")


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


class JudgeContext(Protocol):
    """What a judge may use of its game: the run's models, asked through the game's context (the engine's
    ``GameContext`` is one), so every call is rendered from a template and accounted in the game's record."""

    async def generate(
        self,
        role: str,
        variables: dict[str, Any],
        *,
        template: str | None = None,
        settings: GenerationSettings,
        sample: int = 0,
        spec: str | None = None,
    ) -> Completion:
        """Render ``role``'s template (or ``template``) with ``variables`` and ask the role's model (or ``spec``)."""

    async def generate_readable(
        self,
        role: str,
        variables: dict[str, Any],
        read: Callable[[Completion], Reading],
        readable: Callable[[Reading], bool],
        *,
        template: str | None = None,
        settings: GenerationSettings,
        spec: str | None = None,
    ) -> tuple[Reading, list[Completion]]:
        """Like :meth:`generate`, reading the reply with ``read``; an unreadable one is asked again once.
        Returns the last reading and every reply."""


@runtime_checkable
class Judge(Protocol):
    """What the engine calls. ``describe()`` names the judge in records."""

    def describe(self) -> str:
        """The judge's name in records (a model spec, ``human``, a plug-in's spec)."""

    def model_specs(self) -> list[str]:
        """Every model the judge may call, so the run can check them before the first game."""

    async def decide(self, view: JudgeView, ctx: JudgeContext) -> Verdict:
        """The verdict on what the view shows."""

    async def ask(self, view: JudgeView, ctx: JudgeContext) -> str | None:
        """A question for the debaters (``interactive-debate``), or None for none."""


class PluginJudge:
    """Adapts a user's judge (an object with ``decide`` or a plain function) to :class:`Judge`."""

    def __init__(self, target: Any, name: str) -> None:
        self._target = target
        self._name = name

    def describe(self) -> str:
        """The spec the judge was loaded from."""
        return self._name

    def model_specs(self) -> list[str]:
        """The models the user's judge says it calls (none unless it defines ``model_specs``)."""
        return list(getattr(self._target, "model_specs", lambda: [])())

    async def _call(self, fn: Any, *args: Any) -> Any:
        # a user's function may take (view) or (view, ctx), and may be sync or async
        params = inspect.signature(fn).parameters
        result = fn(*args[: max(1, len(params))])
        return await result if asyncio.iscoroutine(result) else result

    async def decide(self, view: JudgeView, ctx: JudgeContext) -> Verdict:
        """The user's judge's verdict; anything but a :class:`Verdict` is an error of that game."""
        fn = getattr(self._target, "decide", self._target)
        verdict = await self._call(fn, view, ctx)
        if not isinstance(verdict, Verdict):
            raise TypeError(f"judge {self._name} returned {type(verdict).__name__}, not a Verdict")
        return verdict

    async def ask(self, view: JudgeView, ctx: JudgeContext) -> str | None:
        """The user's judge's question, when it defines ``ask``; otherwise None."""
        fn = getattr(self._target, "ask", None)
        return None if fn is None else await self._call(fn, view, ctx)
