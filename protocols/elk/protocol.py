"""ELK builder–breaker: the builder proposes how to train an honest reporter, the breaker counters, and the
round is settled by experiment where it can be.

A round: the builder states a training strategy and why it should find the direct translator, naming an
executable recipe (``RECIPE:``, see :mod:`.recipes`) and optionally attaching a reporter; the engine trains the
recipe's reporter on the world's predictor and scores it on the world's tampering test set. The breaker answers
with a counterexample, optionally attaching an episode (``ACTIONS:``) or a family of them (``FAMILY:``); the engine
runs it and, when the proposal was executed, tests the trained reporter on the counterexample's episodes
(:mod:`.trials`): that result is the ruling, and the judge model's ruling is kept beside it. Otherwise the judge
rules on the argument, with the executed episode in front of it, and the round is recorded as not executed. A
counterexample not ruled valid ends the game with the builder surviving; a valid one in every one of ``rounds``
rounds means the breaker wins.

``GameOutcome.correct`` stays None: surviving is an outcome of the game, not the right answer to a question, and
counting it as judge accuracy would mislabel it. The ground truth the game does have — the trials, and whether an
attached episode really fools the sensors — is in each round's record and in the metrics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from oversight.protocols.elk.metrics import ElkMetrics, elk_metrics
from oversight.protocols.elk.parsing import parse_counterexample, parse_proposal, parse_ruling, parse_yes_no
from oversight.protocols.elk.recipes import Recipe, parse_recipe
from oversight.protocols.elk.records import ElkGame, ElkRound, Outcome, Proposal, Ruling
from oversight.protocols.elk.reporters import (
    RULES,
    probability,
    prompt_material,
    reporter_variables,
    rule_probabilities,
)
from oversight.protocols.elk.scenarios import Scenario, scenario_of
from oversight.protocols.elk.trials import Evaluation, recipe_result, run_trial, scored, trial_positives
from oversight.protocols.elk.world import World, run
from pydantic import Field

from oversight.models.base import Completion, GenerationSettings
from oversight.protocol import MAX_ROUNDS, GameContext, GameOutcome, GameSetup, Protocol, ProtocolOptions
from oversight.records import GameRecord, Interval, ProtocolSummary, Turn
from oversight.scoring import wilson_interval
from oversight.tasks.items import TaskItem

if TYPE_CHECKING:
    from rich.console import RenderableType

    from oversight.plots import PlotSpec
    from oversight.views import ReportView


JUDGE_TOKENS = 120
REPORTER_TOKENS = 10


class ElkOptions(ProtocolOptions):
    rounds: int = Field(default=3, ge=1, le=MAX_ROUNDS)
    #: show builder and breaker the scenario's known proposals and counterexamples as worked examples
    few_shot: bool = True
    #: fake and real positives an attached prompt reporter answers each round (each one a model call)
    reporter_episodes: int = Field(default=6, ge=1, le=60)


class Elk(Protocol):
    name: ClassVar[str] = "elk"
    roles: ClassVar[tuple[str, ...]] = ("builder", "breaker", "judge")
    templates: ClassVar[tuple[str, ...]] = ("builder", "breaker", "judge", "reporter")
    options_model: ClassVar[type[ProtocolOptions]] = ElkOptions
    default_task: ClassVar[str] = "elk-scenarios"
    headline: ClassVar[str] = "builder survival"
    metrics_model: ClassVar[type[ElkMetrics]] = ElkMetrics
    description: ClassVar[str] = (
        "ELK builder–breaker: reporter-training recipes are trained on a world's predictor and tested on the "
        "breaker's tampering episodes; free-text rounds are judged on a rubric"
    )

    @classmethod
    def terminal_view(cls, record: GameRecord) -> list[RenderableType] | None:
        from oversight.protocols.elk.views import elk_rounds  # rich's tree and panels only when a game is shown

        return elk_rounds(record)

    @classmethod
    def headline_figure(
        cls, summary: ProtocolSummary, metrics: Mapping[str, Any]
    ) -> tuple[float | None, Interval | None]:
        """The share of complete games the builder survived, with its 95% Wilson interval; none in a summary
        without those figures."""
        games, share = metrics.get("games"), metrics.get("builder_survival_rate")
        if not isinstance(games, int) or not isinstance(share, (int, float)):
            return None, None
        return share, wilson_interval(round(share * games), games)

    @classmethod
    def report_view(cls, record: GameRecord) -> ReportView | None:
        """The rounds as one table, under the game's outcome."""
        from oversight.protocols.elk.views import rounds_view

        return rounds_view(record)

    @property
    def opts(self) -> ElkOptions:
        """The protocol's options, typed as the family's own :class:`ElkOptions`."""
        assert isinstance(self.options, ElkOptions)
        return self.options

    def setups(
        self, task: str, items: Sequence[TaskItem], phase: int = 0, earlier: Sequence[GameRecord] = (), seed: int = 0
    ) -> Iterable[GameSetup]:
        for item in items:
            scenario_of(task, item.id, item.meta)  # an item without a scenario stops the run before any game
            yield GameSetup(protocol=self.name, task=task, item=item, context={"seed": seed})

    async def play(self, game: GameSetup, ctx: GameContext) -> GameOutcome:
        scenario = scenario_of(game.task, game.item.id, game.item.meta)
        world = scenario.world
        seed = int(game.context.get("seed", 0))
        settings = GenerationSettings(max_tokens=self.opts.max_tokens, temperature=self.opts.temperature)
        turns: list[Turn] = []
        rounds: list[ElkRound] = []
        outcome: Outcome = "breaker wins"
        reason = f"a valid counterexample in each of {self.opts.rounds} rounds"
        for number in range(1, self.opts.rounds + 1):
            variables = {
                **self._shared(scenario), "round": number, "rounds": self.opts.rounds, "history": _history(rounds)
            }
            reply = await ctx.generate("builder", variables, settings=settings)
            turns.append(_turn("builder", number, reply, "proposal"))
            current = ElkRound(round=number, proposal=parse_proposal(reply.text, world))
            rounds.append(current)
            if not current.proposal.strategy:
                reason = f"the builder made no proposal in round {number}"
                break
            recipe = _recipe(current.proposal, world)
            if recipe is not None and world is not None:
                # training takes seconds of CPU: off the event loop, so other games' model calls go on meanwhile
                current.recipe_result = await asyncio.to_thread(recipe_result, recipe, world, seed)
            variables |= {
                "strategy": current.proposal.strategy, "why": current.proposal.why or "(not given)",
                "recipe": current.proposal.recipe or "",
            }
            reply = await ctx.generate("breaker", variables, settings=settings)
            turns.append(_turn("breaker", number, reply, "counterexample"))
            current.counterexample = parse_counterexample(reply.text)
            _execute(current, world)
            counter = current.counterexample
            if recipe is not None and world is not None and counter.actions and counter.actions_error is None:
                current.trial = await asyncio.to_thread(
                    run_trial, recipe, world, counter.actions, counter.family, seed
                )
            if current.proposal.reporter is not None and current.trial is not None and world is not None:
                current.reporter_score = await self._score(current, recipe, scenario, seed, ctx, turns)
            current.ruling, current.judge_ruling = await self._rule(current, variables, world, ctx, turns)
            if not current.ruling.valid:
                outcome, reason = "builder survives", f"no valid counterexample in round {number}"
                break
        record = ElkGame(scenario=scenario.id, outcome=outcome, reason=reason, rounds=rounds)
        return GameOutcome(turns=turns, correct=None, meta=record.model_dump(mode="json"))

    def _shared(self, scenario: Scenario) -> dict[str, Any]:
        world = scenario.world
        return {
            "scenario": scenario.model_dump(include={"title", "setting", "predictor", "human", "question"}),
            "sensors": [{"name": n, "description": s.description} for n, s in world.sensors.items()] if world else [],
            "actions": [
                {"name": n, "actor": a.actor, "description": a.description} for n, a in world.actions.items()
            ] if world else [],
            "moves": [m.model_dump() for m in scenario.moves] if self.opts.few_shot else [],
            "naive": scenario.moves[0].proposal,
        }

    async def _score(
        self, current: ElkRound, recipe: Recipe | None, scenario: Scenario, seed: int, ctx: GameContext,
        turns: list[Turn],
    ) -> Evaluation:
        """The attached reporter on the trial's fake positives and the test set's real positives: a rule answers on
        all of them, a prompt reporter on the first ``reporter_episodes`` of each, one model call per episode (kept
        as the builder's ``reporter`` turns)."""
        proposal, trial, number = current.proposal, current.trial, current.round
        assert trial is not None
        world = scenario.world
        assert world is not None
        fakes, reals = trial_positives(trial, world, seed)
        reporter = proposal.reporter or ""
        if reporter in RULES:
            fake, real = rule_probabilities(reporter, fakes, reals)
            return scored(f"{reporter} (reference rule)", fake, real)
        k = self.opts.reporter_episodes
        fakes, reals = fakes[:k], reals[:k]
        # the predictor's state is computed off the event loop, as training is
        labelled, lines = await asyncio.to_thread(prompt_material, recipe, world, [*fakes, *reals], seed)
        settings = GenerationSettings(max_tokens=REPORTER_TOKENS, temperature=self.opts.temperature)
        replies = await asyncio.gather(
            *(
                ctx.generate(
                    "builder",
                    reporter_variables(proposal.reporter_prompt or "", scenario.question, labelled, line),
                    template="reporter",
                    settings=settings,
                )
                for line in lines
            )
        )
        turns.extend(_turn("builder", number, reply, "reporter") for reply in replies)
        says = [parse_yes_no(r.text) for r in replies]
        fake = [probability(s, fake=True) for s in says[: len(fakes)]]
        real = [probability(s, fake=False) for s in says[len(fakes) :]]
        return scored("prompt", fake, real)

    async def _rule(
        self, current: ElkRound, variables: dict[str, Any], world: World | None, ctx: GameContext, turns: list[Turn]
    ) -> tuple[Ruling, Ruling | None]:
        """The round's ruling and, when execution decided it, the judge model's ruling to keep beside it.

        A concession ends the round; a trial decides it, whatever the breaker wrote around its episodes (the judge is
        asked too when there is an argument to rule on); otherwise the judge rules on the argument."""
        counter = current.counterexample
        assert counter is not None
        if counter.conceded:
            return Ruling(valid=False, reason="the breaker conceded", by="engine"), None
        executed = None
        if current.trial is not None:
            executed = Ruling(valid=current.trial.valid, reason=current.trial.reason, by="execution")
        if not counter.story and not counter.bad_reporter:
            return executed or Ruling(valid=False, reason="the breaker gave no counterexample", by="engine"), None
        judged = {
            **variables,
            "story": counter.story or "(none)",
            "bad_reporter": counter.bad_reporter or "(none)",
            "execution": _execution_view(current, world),
        }
        settings = GenerationSettings(max_tokens=JUDGE_TOKENS, temperature=self.opts.temperature)
        (valid, reason), replies = await ctx.generate_readable(
            "judge", judged, lambda reply: parse_ruling(reply.text), lambda ruling: ruling[0] is not None,
            settings=settings,
        )
        turns.extend(_turn("judge", current.round, reply, "ruling") for reply in replies)
        judge = Ruling(valid=valid, reason=reason if valid is not None else "the judge gave no readable ruling")
        return (executed, judge) if executed is not None else (judge, None)

    def metrics(self, records: Iterable[GameRecord]) -> ElkMetrics | None:
        """Survival, counterexamples, executed episodes and reporter scores (see :class:`ElkMetrics`)."""
        return elk_metrics(records)

    @classmethod
    def plots(cls, metrics: Mapping[str, Any]) -> list[PlotSpec]:
        """Builder survival by round, and each scenario's recipes' detection AUROC beside the references (see
        :mod:`.plots`)."""
        from oversight.protocols.elk.plots import elk_plots  # scipy's intervals only when a report is drawn

        return elk_plots(metrics)


def _turn(role: str, number: int, reply: Completion, move: str) -> Turn:
    return Turn(role=role, round=number, content=reply.text, usage=reply.usage, meta={"move": move})


def _history(rounds: list[ElkRound]) -> list[dict[str, Any]]:
    return [
        {
            "round": r.round,
            "strategy": r.proposal.strategy,
            "counterexample": r.counterexample.story if r.counterexample else "",
            "ruling": {True: "valid", False: "invalid", None: "unreadable"}[r.ruling.valid],
            "reason": r.ruling.reason,
        }
        for r in rounds
        if r.ruling is not None
    ]


def _execute(current: ElkRound, world: World | None) -> None:
    """Run the breaker's attached episode, if any, and record what it showed."""
    counter = current.counterexample
    assert counter is not None
    if counter.actions_error is not None:
        current.execution, current.execution_error = "invalid-actions", counter.actions_error
    elif counter.actions is None:
        current.execution = "none"
    elif world is None:
        current.execution = "not-executable"
    else:
        current.episode = episode = run(world, counter.actions)
        if episode.error is not None:
            current.execution, current.execution_error = "invalid-actions", episode.error
        else:
            current.execution = "fake-positive" if episode.fake_positive else "not-fake-positive"


def _execution_view(current: ElkRound, world: World | None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "status": current.execution, "error": current.execution_error or "", "actions": [], "observations": [],
        "truth": "", "why_not": "",
    }
    episode = current.episode
    if world is None or episode is None or current.execution not in ("fake-positive", "not-fake-positive"):
        return view
    alarms = [f"{s}: {episode.observations[s]}" for s, fine in episode.sensors_fine.items() if not fine]
    view |= {
        "actions": episode.actions,
        "observations": [{"sensor": s, "reading": r} for s, r in episode.observations.items()],
        "truth": world.truth_yes if episode.truth_safe else world.truth_no,
        "why_not": f"the true answer is yes ({world.truth_yes})"
        if episode.truth_safe
        else f"the human would see a problem ({'; '.join(alarms)})",
    }
    return view


def _recipe(proposal: Proposal, world: World | None) -> Recipe | None:
    """The proposal's recipe, read again from its canonical spelling; None for a free-text proposal."""
    if proposal.recipe is None:
        return None
    recipe, _ = parse_recipe(proposal.recipe, world)
    return recipe
