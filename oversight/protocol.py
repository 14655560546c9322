"""What a protocol is: the rules of one game, played through a :class:`GameContext`.

A protocol lists the games an item gives rise to (:meth:`Protocol.setups`) and plays one
(:meth:`Protocol.play`). It talks to its roles only through the context, which renders the role's prompt
template and asks the role's model; it never sees HTTP, files or the cache. The context tags every call of its
game with one opaque affinity key, so the calls that share the game's prompt prefix reach the replica or
llama.cpp slot that holds it.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from oversight.errors import UserError
from oversight.metrics import ProtocolMetrics
from oversight.models.base import Completion, GenerationSettings
from oversight.models.pool import ModelPool
from oversight.prompts import PromptLibrary
from oversight.records import GameRecord, Interval, ModelCall, ProtocolSummary, Turn, Verdict
from oversight.registry import Registry

if TYPE_CHECKING:
    from rich.console import RenderableType

    from oversight.judges import Judge, JudgeView
    from oversight.plots import PlotSpec
    from oversight.training import Distillation
    from oversight.views import ReportView
from oversight.tasks.items import TaskItem

#: built-in families and plug-ins alike register under the entry-point group ``oversight.protocols``
PROTOCOLS = Registry("oversight.protocols", "protocol")


#: bounds on the counts a user sets, so a typo (rounds=100000000) is an error, not a game that never ends
MAX_ROUNDS = 100
MAX_TOKENS = 32_768

#: what a caller of :meth:`GameContext.generate_readable` reads a reply as (a verdict, a ruling, …)
Reading = TypeVar("Reading")


class ProtocolOptions(BaseModel):
    """Settings that change how games are played; all of them are part of a run's fingerprint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rounds: int = Field(default=2, ge=1, le=MAX_ROUNDS)
    #: play every item in every seating (True) or in one, drawn per item from the run's seed and balanced (False)
    both_seatings: bool = True
    max_tokens: int = Field(default=300, gt=0, le=MAX_TOKENS)
    temperature: float = Field(default=0.0, ge=0.0)


@dataclass(frozen=True)
class GameSetup:
    """One game to play: an item, the protocol, who sits where, and which sample of it this is."""

    protocol: str
    task: str
    item: TaskItem
    seating: dict[str, int] = field(default_factory=dict)
    sample: int = 0
    phase: int = 0
    #: which of a tournament's matchups the game belongs to (empty in a plain run)
    matchup: str = ""
    #: a kind of game within the protocol (``amplified`` / ``direct``); summaries count each kind apart
    variant: str | None = None
    #: the order the choices are shown in: position → index in the task's choices (empty: the task's order);
    #: ``item`` is already shown in this order, and ``seating`` counts in it
    order: tuple[int, ...] = ()
    #: what the game needs from earlier phases (in-context examples, …); not part of the game's identity
    context: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def game_id(self) -> str:
        """A 16-hex-digit hash of what makes the game this game (not its ``variant`` or ``context``); a resumed run
        skips the games whose ids its folder already holds."""
        seats = ",".join(f"{seat}={choice}" for seat, choice in sorted(self.seating.items()))
        parts = [self.protocol, self.task, self.item.id, seats, str(self.sample)]
        if self.order:
            parts.append("order=" + ",".join(map(str, self.order)))
        if self.phase:
            parts.append(f"phase={self.phase}")
        if self.matchup:
            parts.append(f"entry={self.matchup}")  # the old spelling, so stored game ids stay the same
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


@dataclass
class GameOutcome:
    turns: list[Turn]
    verdict: Verdict | None = None
    #: set by protocols that score themselves; otherwise a verdict is correct when it picks the answer
    correct: bool | None = None
    #: who defended what, when it was decided during the game (open protocols); otherwise the setup's seating
    seating: dict[str, int] | None = None
    #: the roles and players to record, when they are not the matchup's (re-judging stored games)
    roles: dict[str, str] | None = None
    players: dict[str, str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RejudgeView:
    """A stored game as a new judge sees it (``oversight judge``)."""

    #: what the new judge is shown, rebuilt from the stored turns
    view: JudgeView
    #: the stored turns that belong to the game rather than to the old judge's verdict; the new record keeps them
    turns: list[Turn]


class PlayStyle(BaseModel):
    """How a player produces its turns, beyond its model: the stronger-debater methods of Khan et al. 2024."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: sample this many candidate turns and keep the one a judge model finds most convincing
    best_of: int = Field(default=1, ge=1, le=32)
    #: temperature for the candidates (only used when best_of > 1)
    temperature: float = Field(default=0.8, ge=0.0)
    #: the model that scores candidates as a judge would (default: the player's own model)
    scorer: str | None = None
    #: have a critic comment on the draft and revise it once
    critique_refine: bool = False
    #: the model that critiques (default: the player's own model)
    critic: str | None = None


class GameContext:
    """The only door from a protocol to the models: prompts in, completions out, every call accounted."""

    def __init__(
        self,
        template_dir: str,
        roles: dict[str, str],
        pool: ModelPool,
        prompts: PromptLibrary,
        judge: Judge | None = None,
        role_prompts: dict[str, PromptLibrary] | None = None,
        styles: dict[str, PlayStyle] | None = None,
    ) -> None:
        self.template_dir = template_dir
        self.roles = roles
        #: role → how that player produces turns (tournament players; empty otherwise)
        self.styles = styles or {}
        self._role_prompts = role_prompts or {}
        #: the run's judge, for protocols that have one (see :mod:`oversight.judges`)
        self.judge = judge
        self._pool = pool
        self._prompts = prompts
        self.calls: list[ModelCall] = []
        #: turns finished so far; a protocol that appends here has them kept in the record if the game fails
        self.turns: list[Turn] = []
        #: the game's affinity key, sent with each of its calls: they share a long prompt prefix (the passage, the
        #: question, the earlier rounds), so they go to the replica or slot that holds it; a random token, so a
        #: backend learns nothing of the game from it
        self.affinity = secrets.token_hex(8)

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
        """Render ``prompts/<template dir>/<template or role>.j2`` and ask the model bound to ``role``.

        ``spec`` overrides the role's model (an ensemble judge asks each member's model under the judge role).
        """
        # every call lets the event loop run first, so a stop (Ctrl-C, SIGTERM) lands between two calls even when
        # answers come from the process itself (scripted policies) or from the cache, which never wait
        await asyncio.sleep(0)
        prompts = self._role_prompts.get(role, self._prompts)
        messages = prompts.render(f"{self.template_dir}/{template or role}.j2", variables)
        spec = spec or self.roles[role]
        key, completion = await self._pool.call(spec, messages, settings, sample, self.affinity)
        self.calls.append(ModelCall(role=role, model=spec, usage=completion.usage, cached=completion.cached, key=key))
        return completion

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
        """Like :meth:`generate`, reading the reply with ``read``; a reply ``readable`` rejects is asked again once
        (with ``retry`` true in the variables). Returns the last reading, readable or not, and every reply."""
        replies: list[Completion] = []
        while True:
            # the second ask is a fresh sample, so a cached unreadable reply is not replayed
            reply = await self.generate(
                role, {**variables, "retry": bool(replies)}, template=template, settings=settings,
                sample=len(replies), spec=spec,
            )
            replies.append(reply)
            reading = read(reply)
            if readable(reading) or len(replies) == 2:
                return reading, replies

    def for_roles(self, roles: dict[str, str], template_dir: str | None = None) -> GameContext:
        """A context of the same game for other roles bound to other models (a re-judged game's players, asked to
        answer its new judge): the same pool, prompts and affinity key, and its calls are this game's calls, so
        they go through the run's cache, retries and limits and are recorded with the game."""
        other = GameContext(template_dir or self.template_dir, roles, self._pool, self._prompts)
        other.calls = self.calls
        other.affinity = self.affinity
        return other


class ExportUnsupported(UserError):
    """A protocol asked for training data it cannot give (pairs from a one-speaker game, a winner in ``ida``):
    ``oversight export`` leaves its games out with this line as a note, or stops with it when no protocol of the
    run can give any."""


class Protocol(ABC):
    name: ClassVar[str]
    #: the roles a game needs; each is bound to a model spec
    roles: ClassVar[tuple[str, ...]]
    #: templates the protocol renders (``prompts/<name>/<template>.j2``), loaded before the first game
    templates: ClassVar[tuple[str, ...]]
    #: whether every item must be multiple-choice
    needs_choices: ClassVar[bool] = False
    #: roles that take another role's model when the command binds that one and not them
    role_follows: ClassVar[dict[str, str]] = {}
    #: the task ``oversight run`` plays when no ``--task`` is given
    default_task: ClassVar[str] = "mini-stories"
    #: the settings this protocol accepts (``--rounds``, ``--set KEY=VALUE``)
    options_model: ClassVar[type[ProtocolOptions]] = ProtocolOptions
    #: whether the ``judge`` role is a judge (a model, a human, a plug-in, an ensemble) rather than a plain model
    uses_judge: ClassVar[bool] = False
    #: the folder under prompts/ holding this protocol's templates (a family of protocols can share one)
    template_dir: ClassVar[str | None] = None
    #: a folder of the protocol's own templates (``<template_dir>/<template>.j2``), for a plug-in that ships them;
    #: searched after the user's ``--prompts`` folder and before the built-in templates
    prompts_folder: ClassVar[Path | None] = None
    description: ClassVar[str] = ""
    #: where the protocol's tables come in ``show`` and ``report``: lower first, ties by name; a protocol that sets
    #: none comes after those that do
    display_order: ClassVar[int] = 1000
    #: what the headline figure of the protocol's summary measures ("judge accuracy", …), as readers title it
    headline: ClassVar[str] = "accuracy"
    #: the model of the figures :meth:`metrics` returns; readers name each figure by its field's title
    metrics_model: ClassVar[type[ProtocolMetrics] | None] = None
    #: whether a new judge of a stored game may question its players (:meth:`answer_question`)
    takes_questions: ClassVar[bool] = False

    def __init__(self, options: ProtocolOptions) -> None:
        self.options = options

    @property
    def phases(self) -> int:
        """How many phases a run has; a phase's games start when the previous phase's games are all done."""
        return 1

    @abstractmethod
    def setups(
        self, task: str, items: Sequence[TaskItem], phase: int = 0, earlier: Sequence[GameRecord] = (), seed: int = 0
    ) -> Iterable[GameSetup]:
        """Every game this protocol plays on these items in ``phase``, given the records of earlier phases.

        ``seed`` is the run's: draws that decide a game (who sits where, the order of choices) use it.
        """

    @abstractmethod
    async def play(self, game: GameSetup, ctx: GameContext) -> GameOutcome:
        """Play one game to the end; raise to have it recorded as failed."""

    def metrics(self, records: Iterable[GameRecord]) -> ProtocolMetrics | None:
        """Protocol-specific figures for ``summary.json`` (beyond counts and judge accuracy); None: none.

        A protocol defines its own subclass of :class:`~oversight.metrics.ProtocolMetrics`; the summary keeps its
        JSON. ``records`` is a stream read from the log, to be read once and not kept: a run may hold 100,000
        games."""
        return None

    @classmethod
    def terminal_view(cls, record: GameRecord) -> list[RenderableType] | None:
        """What ``oversight show RUN GAME_ID`` prints for one game in place of its flat list of turns (a tree,
        rounds); None keeps the turns. Rich renderables, with model text as plain text, never as markup."""
        return None

    @classmethod
    def report_view(cls, record: GameRecord) -> ReportView | None:
        """What ``oversight report`` shows of one game beyond its turns and verdict (a tree, tables); None shows
        the record's ``meta`` as JSON. Plain data: the page renders it and escapes every string."""
        return None

    @classmethod
    def plots(cls, metrics: Mapping[str, Any]) -> list[PlotSpec]:
        """Plots of this protocol's figures, given as the JSON its :meth:`metrics` left in ``summary.json``; none by
        default. ``oversight report`` draws them on the page and into ``RUN/plots/``. Plain data: the engine draws
        them and the page never reads their text as markup. A summary in an older shape of the figures gets no
        plots rather than an error."""
        return []

    @classmethod
    def seat_role(cls, seat: str) -> str | None:
        """The role that plays ``seat`` (a key of ``GameRecord.seating``), whose player ratings credit with the
        seat's wins and losses; None: the role is read from the seat's turns."""
        return None

    @classmethod
    def seat_name(cls, seat: str) -> str:
        """How readers name ``seat`` (a key of ``GameRecord.seating``); never a bare letter, which would read as
        the answer lettered the same. The stored key stays as it is."""
        return f"seat {seat}"

    @classmethod
    def headline_figure(
        cls, summary: ProtocolSummary, metrics: Mapping[str, Any]
    ) -> tuple[float | None, Interval | None]:
        """The share the :attr:`headline` reports, with its 95% interval, from the protocol's row of the summary
        (one per variant) and the JSON of its figures; by default the share of scored games that were correct."""
        return summary.accuracy, summary.accuracy_ci95

    def rejudge_view(self, record: GameRecord, item: TaskItem) -> RejudgeView | None:
        """What a new judge is shown of a stored complete game (``oversight judge``), ``item`` being the record's
        item with its passage when the task still has it; None: this protocol's games cannot be judged again."""
        return None

    @property
    def rejudge_needs_passage(self) -> bool:
        """Whether :meth:`rejudge_view` needs the item's passage, which records do not keep."""
        return False

    async def answer_question(
        self, record: GameRecord, item: TaskItem, turns: list[Turn], question: str, ctx: GameContext
    ) -> list[Turn]:
        """A new judge's ``question`` on a stored complete game, asked after ``turns`` (the turns of its
        :meth:`rejudge_view` and of earlier questions), and the answers of the game's players, asked through
        ``ctx`` (bound to the record's roles); ``item`` has its passage. Returns the question's turn and the
        answers, as :meth:`rejudge_view` reads them. Only for protocols that set :attr:`takes_questions`."""
        raise NotImplementedError(f"{self.name} games take no questions")

    def artifacts(self, records: Iterable[GameRecord]) -> dict[str, list[dict[str, Any]]]:
        """Extra JSONL files for the run folder, by file name (e.g. distilled training pairs), from one pass."""
        return {}

    def sft_rows(
        self, records: Iterable[GameRecord], *, role: str | None, keep: str, passages: Mapping[str, str]
    ) -> Iterable[dict[str, Any]]:
        """Chat rows for ``oversight export --format sft``: ``{"messages": [system, user, assistant], ...}`` for the
        turns of ``role`` (None: the protocol's default rows) kept by ``keep`` (``winner``, ``loser``, ``correct`` or
        ``all``), from ``records`` (this protocol's complete games, a stream read once). The prompt is rebuilt in
        the layout of :func:`oversight.export.chat_prompt` from what the role could see; ``passages`` maps item ids
        to passages, which records do not keep. Raise :class:`ExportUnsupported` before the first row for what the
        protocol cannot give; by default it gives nothing."""
        raise ExportUnsupported(f"{self.name} games give no chat rows")

    def preference_pairs(
        self, records: Iterable[GameRecord], *, keep: str, passages: Mapping[str, str]
    ) -> Iterable[dict[str, Any]]:
        """Preference pairs for ``oversight export --format dpo``: ``{"prompt": [...], "chosen": [assistant],
        "rejected": [assistant], ...}``, one prompt answered twice, kept by ``keep`` (``correct`` or ``all``); as
        :meth:`sft_rows` otherwise. By default there are none (:class:`ExportUnsupported`)."""
        raise ExportUnsupported(f"{self.name} games give no preference pairs")

    def check_roles(self, roles: Mapping[str, str]) -> None:
        """Raise :class:`~oversight.errors.UserError` (one line) when the models bound to the roles cannot serve
        this protocol's options (e.g. a model that cannot be fine-tuned when the options say to fine-tune it);
        called before anything runs."""

    def distillation(self, phase: int, records: Sequence[GameRecord]) -> Distillation | None:
        """What to distil after ``phase`` from its complete games (``records``), for the next phase; None: nothing.
        The engine trains (or exports) and rebinds the role for the phases after."""
        return None
