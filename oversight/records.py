"""Everything written to a run folder, as pydantic models with a schema version.

``transcripts.jsonl`` holds one :class:`GameRecord` per line; ``run.json`` one :class:`RunManifest`;
``summary.json`` one :class:`RunSummary`. Records carry model specs, never keys.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field, model_validator

from oversight.models.base import Usage
from oversight.training.request import DistillationRecord

SCHEMA_VERSION = 1


def utc_now() -> datetime:
    """The current time, zone-aware in UTC: what records and locks are stamped with."""
    return datetime.now(UTC)


class ModelCall(BaseModel):
    """One request a role made, for usage accounting."""

    role: str
    model: str
    usage: Usage
    cached: bool = False
    #: sha256 of the request, the response cache's key: ``show RUN GAME --prompts`` finds its messages by it
    key: str | None = None

    @model_validator(mode="after")
    def _replay_reused_nothing(self) -> ModelCall:
        """A call the response cache answered sent nothing: the prompt-cache reuse its stored usage reports was
        another call's, so it is dropped (not reported) here."""
        if self.cached and self.usage.cached_prompt_tokens is not None:
            self.usage = self.usage.model_copy(update={"cached_prompt_tokens": None})
        return self


class Turn(BaseModel):
    role: str
    content: str
    #: the seat the judge saw this speaker in ("A", "B", ...), when the protocol has seats
    seat: str | None = None
    round: int | None = None
    usage: Usage = Field(default_factory=Usage)
    #: protocol-specific facts about the turn (quotes and their verification, candidates, …)
    meta: dict[str, Any] = Field(default_factory=dict)


class Verdict(BaseModel):
    #: index into the item's choices, or None when the judge gave no usable answer
    choice: int | None
    probabilities: list[float] | None = None
    #: where the probabilities came from: "logprobs", "stated" (parsed from the text), or a judge's own word
    source: str | None = None
    #: the judge's reply as given (model text, a human's answer, a plug-in's note)
    raw: str = ""
    #: the choice was drawn among answers the judge held equally likely (e.g. an ensemble's tied vote)
    tie_broken: bool = False

    @property
    def valid(self) -> bool:
        """The judge named a choice; an invalid verdict still counts as judged, never as correct."""
        return self.choice is not None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def belief_disagrees(self) -> bool:
        """The probabilities put more mass on another answer than the chosen one (the choice still stands)."""
        if self.choice is None or not self.probabilities or self.choice >= len(self.probabilities):
            return False
        return max(self.probabilities) > self.probabilities[self.choice]


class GameRecord(BaseModel):
    schema_version: int = SCHEMA_VERSION
    game_id: str
    protocol: str
    task: str
    item_id: str
    #: for protocols that run in phases (amplify → distill → amplify …)
    phase: int = 0
    #: a kind of game within the protocol (e.g. ``amplified`` / ``direct``), counted apart in summaries
    variant: str | None = None
    #: which choice each seat defends, keyed by seat, e.g. {"A": 1, "B": 0}; empty for protocols without seats
    seating: dict[str, int] = Field(default_factory=dict)
    sample: int = 0
    status: Literal["complete", "failed"]
    roles: dict[str, str]
    #: role → tournament player name (empty outside tournaments, where ``roles`` names the models)
    players: dict[str, str] = Field(default_factory=dict)
    question: str
    #: the choices in the order the game showed them; ``answer``, ``seating`` and the verdict count in this order
    choices: list[str] = Field(default_factory=list)
    #: shown position → index in the task's own list of choices (empty when shown in the task's order)
    choice_order: list[int] = Field(default_factory=list)
    #: index into ``choices``, or the exact answer of an open-ended item
    answer: int | str | None
    turns: list[Turn] = Field(default_factory=list)
    verdict: Verdict | None = None
    correct: bool | None = None
    error: str | None = None
    calls: list[ModelCall] = Field(default_factory=list)
    #: protocol-specific results (a decomposition tree, builder–breaker rounds, …)
    meta: dict[str, Any] = Field(default_factory=dict)
    #: the task item's own metadata (difficulty, QuALITY's ``difficult``, …), so results can be split by it
    item_meta: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime
    finished_at: datetime


#: how a run stands: ``incomplete`` some games failed, ``failed`` every game failed (a rerun plays failed games
#: again); ``interrupted`` stopped before its games or its summary were done; ``aborted`` stopped by a condition
#: that would fail every game (``error`` says which)
RunStatus = Literal["running", "complete", "incomplete", "failed", "interrupted", "aborted"]


class GameCounts(BaseModel):
    """A run's games when it last stopped: planned = complete + failed + pending."""

    planned: int
    complete: int
    failed: int
    #: not played yet (the run was stopped)
    pending: int


class RunManifest(BaseModel):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    command: list[str]
    config: dict[str, Any]
    #: fingerprint of the settings that decide which games exist and how they are played
    config_hash: str
    #: the fingerprint part by part (protocol, roles, judge, task, each template, …), to say which one changed
    fingerprint_parts: dict[str, str] = Field(default_factory=dict)
    models: dict[str, str]
    package_version: str
    #: the commit of the package's source, when it runs from a git checkout
    git_revision: str | None = None
    #: versions of the installed packages that shape results (openai, xllamacpp, transformers, torch)
    packages: dict[str, str] = Field(default_factory=dict)
    python_version: str
    seed: int
    started_at: datetime
    ended_at: datetime | None = None
    status: RunStatus = "running"
    error: str | None = None
    #: the games' tally when the run last stopped (none while it runs, or when it stopped before its summary)
    games: GameCounts | None = None
    #: for a re-judged run: the run folder whose games it judged again
    source_run: str | None = None
    #: what was distilled between phases (fine-tuned adapters, exported rows), in order
    distillations: list[DistillationRecord] = Field(default_factory=list)


class UsageTotals(BaseModel):
    calls: int = 0
    #: calls the response cache answered (no request sent)
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: calls sent to their backend whose backend said how many prompt tokens it reused from its prompt cache;
    #: the two sums below count these calls only (0 here: no backend said, which is not the same as reusing none)
    reuse_reported_calls: int = 0
    #: prompt tokens of those calls the backend reused from its prompt cache instead of computing them
    cached_prompt_tokens: int = 0
    #: prompt tokens of those calls the backend computed
    computed_prompt_tokens: int = 0

    def add(self, call: ModelCall) -> None:
        """Count one model call: its tokens, whether the cache answered it, and its prompt-cache reuse if told."""
        self.calls += 1
        self.cached_calls += int(call.cached)
        self.prompt_tokens += call.usage.prompt_tokens
        self.completion_tokens += call.usage.completion_tokens
        computed = call.usage.computed_prompt_tokens
        if computed is not None and not call.cached:
            self.reuse_reported_calls += 1
            self.cached_prompt_tokens += call.usage.prompt_tokens - computed
            self.computed_prompt_tokens += computed


class Interval(BaseModel):
    low: float
    high: float


class ProtocolSummary(BaseModel):
    games: int = 0
    complete: int = 0
    failed: int = 0
    #: complete games that were scored; accuracy is ``correct / judged``
    judged: int = Field(default=0, title="scored")
    correct: int = 0
    #: judged games whose verdict named a wrong answer
    wrong: int = 0
    #: judged games without a usable answer (counted in ``judged``, never as correct)
    invalid_verdicts: int = 0
    #: valid verdicts whose probabilities favoured another answer than the one written
    belief_disagrees: int = Field(default=0, title="belief≠answer")
    #: verdicts drawn among tied answers
    ties_broken: int = Field(default=0, title="ties broken")
    accuracy: float | None = None
    accuracy_ci95: Interval | None = None


class RunSummary(BaseModel):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    games: int
    complete: int
    failed: int
    pending: int
    accuracy: float | None
    accuracy_ci95: Interval | None
    by_protocol: dict[str, ProtocolSummary]
    #: item metadata key → value → protocol → summary, for keys with 2 to 8 distinct scalar values in the run
    by_meta: dict[str, dict[str, dict[str, ProtocolSummary]]] = Field(default_factory=dict)
    #: questions of the task source left out while loading, by reason (e.g. {"no gold label": 3})
    skipped_items: dict[str, int] = Field(default_factory=dict)
    #: protocol-specific figures (calibration, tree costs, rounds survived, …): protocol → the JSON of its
    #: :class:`~oversight.metrics.ProtocolMetrics` model, so a summary loads without the protocol installed
    metrics: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: tournament ratings (see :mod:`oversight.ratings`), when players met head to head
    ratings: dict[str, Any] | None = None
    usage_by_role: dict[str, UsageTotals]
    usage_by_model: dict[str, UsageTotals]
    #: the same sums by protocol (as ``by_protocol`` names them): divided by its games, the tokens per game
    usage_by_protocol: dict[str, UsageTotals] = Field(default_factory=dict)
    #: what was distilled between phases (fine-tuned adapters with their loss curves, exported rows)
    distillations: list[DistillationRecord] = Field(default_factory=list)
