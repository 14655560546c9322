"""What an ELK game keeps in ``GameRecord.meta``: every proposal, counterexample, executed episode and ruling."""

from __future__ import annotations

from typing import Literal

from oversight.protocols.elk.reporters import ReporterScore
from oversight.protocols.elk.world import Episode
from pydantic import BaseModel, computed_field

#: what running the breaker's episode showed
Execution = Literal["none", "not-executable", "invalid-actions", "fake-positive", "not-fake-positive"]
Outcome = Literal["builder survives", "breaker wins"]


class Proposal(BaseModel):
    """A builder's reply as read: the training strategy, why it should find the direct translator, and the reporter
    attached to it, if any (or why the one named could not be used)."""

    text: str
    strategy: str
    why: str = ""
    #: a rule name from :data:`oversight.protocols.elk.reporters.RULES`, "prompt", or None when no reporter was attached
    reporter: str | None = None
    reporter_prompt: str | None = None
    reporter_error: str | None = None


class Counterexample(BaseModel):
    """A breaker's reply as read: the story in which the strategy yields a bad reporter, that reporter, and the
    attached episode (or why it could not be read); or a concession that there is none."""

    text: str
    story: str = ""
    bad_reporter: str = ""
    #: the attached episode, as canonical action names; None when none was attached
    actions: list[str] | None = None
    actions_error: str | None = None
    conceded: bool = False

    @computed_field  # type: ignore[prop-decorator]
    @property
    def malformed(self) -> bool:
        """Neither a concession nor a story with a bad reporter: the breaker did not follow the format."""
        return not self.conceded and not (self.story and self.bad_reporter)


class Ruling(BaseModel):
    """The ruling on one round's counterexample, with its reason and who made it."""

    #: None when the judge gave no readable ruling
    valid: bool | None
    reason: str
    #: "judge" when the judge model ruled; "engine" when there was nothing to rule on (a concession, no text)
    by: Literal["judge", "engine"] = "judge"


class ElkRound(BaseModel):
    """One round: the proposal, the counterexample, what running its episode showed, how the builder's reporter
    scored, and the ruling."""

    round: int
    proposal: Proposal
    counterexample: Counterexample | None = None
    execution: Execution = "none"
    episode: Episode | None = None
    execution_error: str | None = None
    reporter_score: ReporterScore | None = None
    ruling: Ruling | None = None


class ElkGame(BaseModel):
    """A whole game as ``GameRecord.meta`` keeps it: the scenario, every round, and the outcome with its reason."""

    scenario: str
    outcome: Outcome
    reason: str
    rounds: list[ElkRound]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def valid_counterexamples(self) -> int:
        """Rounds whose counterexample was ruled valid."""
        return sum(bool(r.ruling and r.ruling.valid) for r in self.rounds)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rounds_survived(self) -> int:
        """Rounds whose proposal was ruled on and not validly broken."""
        return sum(bool(r.ruling and not r.ruling.valid) for r in self.rounds)
