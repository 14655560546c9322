"""What an ELK game keeps in ``GameRecord.meta``: every proposal, counterexample, executed episode and ruling."""

from __future__ import annotations

from typing import Literal

from oversight.protocols.elk.trials import Evaluation, RecipeResult, Trial
from oversight.protocols.elk.world import Episode
from pydantic import BaseModel, computed_field

#: what running the breaker's episode showed
Execution = Literal["none", "not-executable", "invalid-actions", "fake-positive", "not-fake-positive"]
Outcome = Literal["builder survives", "breaker wins"]


class Proposal(BaseModel):
    """A builder's reply as read: the training strategy, why it should find the direct translator, the recipe the
    engine can run for it, and the reporter attached to it, if any (or why a recipe or reporter could not be used)."""

    text: str
    strategy: str
    why: str = ""
    #: the executable recipe in canonical spelling (see :mod:`oversight.protocols.elk.recipes`); None for free text
    recipe: str | None = None
    recipe_error: str | None = None
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
    #: the attached episode (or a family's skeleton), as canonical action names; None when none was attached
    actions: list[str] | None = None
    actions_error: str | None = None
    #: whether ``actions`` is a family's skeleton (``FAMILY:``): every episode with these steps in this order
    family: bool = False
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
    #: "execution" when the recipe was run against the counterexample's episodes; "judge" when the judge model
    #: ruled; "engine" when there was nothing to rule on (a concession, no text)
    by: Literal["execution", "judge", "engine"] = "judge"


class ElkRound(BaseModel):
    """One round: the proposal, what its recipe scored on the world's tampering test set, the counterexample, what
    running its episode showed, the trial of the recipe on the counterexample's episodes, the attached reporter's
    score, and the ruling (with the judge's beside it when execution decided)."""

    round: int
    proposal: Proposal
    recipe_result: RecipeResult | None = None
    counterexample: Counterexample | None = None
    execution: Execution = "none"
    episode: Episode | None = None
    execution_error: str | None = None
    trial: Trial | None = None
    #: the attached rule or prompt reporter on the trial's episodes
    reporter_score: Evaluation | None = None
    ruling: Ruling | None = None
    #: the judge model's ruling, kept beside an execution's ruling; None when the judge was not asked
    judge_ruling: Ruling | None = None


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
