"""Run-level figures for ELK games: who survived, how counterexamples fared, what the executed recipes scored.

Scalars go in one table; each list of rows is a table of its own (``oversight show`` prints both). The recipe table
reads like a measurement-tampering benchmark: per scenario and recipe, the detection AUROC of the trained reporter
on the world's tampering test set, beside the truth-fitted probe (the direct translator's ceiling) and the
human-belief probe (the human simulator).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from oversight.protocols.elk.records import ElkGame, ElkRound
from oversight.protocols.elk.trials import Evaluation, RecipeResult
from pydantic import BaseModel, Field

from oversight.metrics import ProtocolMetrics
from oversight.records import GameRecord
from oversight.scoring import rate

#: executions in which an attached episode was run (or refused as invalid)
_RUN = ("fake-positive", "not-fake-positive", "invalid-actions")


class GameRow(BaseModel):
    """One game, in short keys that keep the table inside a terminal."""

    #: the item (scenario) played
    item: str
    #: "builder" when the builder survived, else "breaker"
    winner: str
    #: rounds played
    rounds: int
    #: rounds whose proposal was ruled on and not validly broken
    survived: int
    #: counterexamples ruled valid
    valid: int
    #: breaker episodes attached (run or refused)
    episodes: int
    #: of those, episodes that fooled every sensor
    fooled: int


class ScenarioRow(BaseModel):
    """The games of one scenario."""

    #: the scenario's name
    scenario: str
    #: games played on it
    games: int
    #: games the builder survived
    builder_survived: int
    #: rounds per game
    mean_rounds: float
    #: counterexamples ruled valid over its games
    valid_counterexamples: int


class EpisodeRow(BaseModel):
    """Counterexamples by what running their episode showed."""

    #: the execution's result ("fake-positive", "not-fake-positive", "invalid-actions", "none", …)
    execution: str
    #: counterexamples with that result
    counterexamples: int


class RecipeRow(BaseModel):
    """One recipe in one scenario: its reporter and the two references on the world's tampering test set, and how
    the breakers' counterexamples fared against it."""

    #: the scenario
    scenario: str
    #: the recipe, as the engine spells it
    recipe: str
    #: rounds that proposed it
    rounds: int
    #: its reporter's detection AUROC on the test set (real positives ranked above fake positives)
    auroc: float | None = Field(title="detection AUROC")
    #: 95% Hanley–McNeil interval of that AUROC
    auroc_low: float | None = Field(title="AUROC 95% low")
    auroc_high: float | None = Field(title="AUROC 95% high")
    #: share of the test set's fake positives it says "no" to
    detection: float | None = Field(title="fake positives detected")
    #: share of the test set's real positives it says "yes" to
    passed: float | None = Field(title="real positives passed")
    #: the truth-fitted probe's AUROC on the same episodes (the direct translator's ceiling)
    truth_probe: float | None = Field(title="truth probe AUROC")
    #: the human-belief probe's AUROC on the same episodes (the human simulator)
    human_simulator: float | None = Field(title="human simulator AUROC")
    #: counterexamples run against it, and how many of them were valid
    trials: int
    valid_trials: int
    #: why it could not be trained, if it could not
    error: str | None = None


class ReporterRow(BaseModel):
    """An attached reporter (a prompt, or a reference rule), summed over the rounds that scored it on a trial's
    fake positives and the test set's real positives."""

    #: "prompt", or a rule name marked as a reference
    reporter: str
    #: rounds that scored it
    rounds_scored: int
    #: share of fake positives it said "no" to
    fake_positives_caught: float | None
    #: share of real positives it said "yes" to
    real_positives_passed: float | None


class ElkMetrics(ProtocolMetrics):
    """The ``elk`` protocol's figures in ``summary.json``."""

    #: complete games
    games: int = Field(title="complete games")
    #: share of them the builder survived
    builder_survival_rate: float | None = Field(title="share of games the builder survived")
    #: rounds per game
    mean_rounds: float = Field(title="rounds per game")
    #: counterexamples ruled valid
    valid_counterexamples: int
    #: rounds in which the breaker conceded
    conceded_counterexamples: int = Field(title="rounds the breaker conceded")
    #: counterexamples that followed no format (neither a concession nor a story with a bad reporter)
    malformed_counterexamples: int
    #: rulings with no readable answer
    unreadable_rulings: int
    #: breaker episodes run or refused as invalid
    episodes_run: int = Field(title="breaker episodes run")
    #: rounds settled by running the builder's recipe against the counterexample's episodes
    executed_rounds: int = Field(title="rounds settled by execution")
    #: share of those rounds in which the judge model's own ruling matches the execution's
    judge_agrees_with_execution: float | None = Field(title="judge rulings that agree with execution")
    #: a row per game
    by_game: list[GameRow]
    #: a row per scenario
    by_scenario: list[ScenarioRow]
    #: a row per execution result
    episodes: list[EpisodeRow]
    #: a row per scenario and executed recipe
    recipes: list[RecipeRow]
    #: a row per reporter the builders attached
    reporters: list[ReporterRow]


def _game_row(record: GameRecord, game: ElkGame) -> GameRow:
    executions = Counter(r.execution for r in game.rounds)
    return GameRow(
        item=record.item_id,
        winner="builder" if game.outcome == "builder survives" else "breaker",
        rounds=len(game.rounds),
        survived=game.rounds_survived,
        valid=game.valid_counterexamples,
        episodes=sum(executions[e] for e in _RUN),
        fooled=executions["fake-positive"],
    )


@dataclass
class _Scenario:
    games: int = 0
    builder_survived: int = 0
    rounds: int = 0
    valid_counterexamples: int = 0

    def add(self, game: ElkGame) -> None:
        self.games += 1
        self.builder_survived += game.outcome == "builder survives"
        self.rounds += len(game.rounds)
        self.valid_counterexamples += game.valid_counterexamples

    def row(self, name: str) -> ScenarioRow:
        return ScenarioRow(
            scenario=name,
            games=self.games,
            builder_survived=self.builder_survived,
            mean_rounds=self.rounds / self.games,
            valid_counterexamples=self.valid_counterexamples,
        )


@dataclass
class _Recipe:
    rounds: int = 0
    result: RecipeResult | None = None
    trials: int = 0
    valid_trials: int = 0

    def row(self, scenario: str, recipe: str) -> RecipeRow:
        result = self.result
        builder = result.builder if result else None
        references = {e.reporter: e.auroc for e in result.references} if result else {}
        interval = builder.auroc_interval if builder else None
        return RecipeRow(
            scenario=scenario, recipe=recipe, rounds=self.rounds,
            auroc=builder.auroc if builder else None,
            auroc_low=interval.low if interval else None, auroc_high=interval.high if interval else None,
            detection=builder.detection_rate if builder else None, passed=builder.pass_rate if builder else None,
            truth_probe=references.get("truth-probe"), human_simulator=references.get("human-simulator"),
            trials=self.trials, valid_trials=self.valid_trials, error=result.error if result else None,
        )


class _Rounds:
    """Counts over every round of every game."""

    def __init__(self) -> None:
        self.rounds = self.conceded = self.malformed = self.unreadable = self.settled = self.executed = self.agreed = 0
        #: counterexamples by what executing their episode showed
        self.executions: Counter[str] = Counter()
        #: (scenario, recipe) → its rounds, test-set result and trials
        self.recipes: dict[tuple[str, str], _Recipe] = defaultdict(_Recipe)
        #: attached reporter → [fakes caught, fakes, reals passed, reals], and how many rounds scored it
        self.reporters: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self.scored: Counter[str] = Counter()

    def add(self, scenario: str, r: ElkRound) -> None:
        self.rounds += 1
        self.conceded += bool(r.counterexample and r.counterexample.conceded)
        self.malformed += bool(r.counterexample and r.counterexample.malformed)
        # the judge's own ruling counts too when execution decided the round
        self.unreadable += any(ruling is not None and ruling.valid is None for ruling in (r.ruling, r.judge_ruling))
        # a trial settles the round unless the engine ruled first (a reply with an episode but no counterexample)
        self.settled += bool(r.trial is not None and r.ruling and r.ruling.by == "execution")
        if r.proposal.recipe is not None and r.recipe_result is not None:
            recipe = self.recipes[(scenario, r.proposal.recipe)]
            recipe.rounds += 1
            recipe.result = recipe.result or r.recipe_result
            if r.trial is not None:
                recipe.trials += 1
                recipe.valid_trials += r.trial.valid
        if r.reporter_score is not None:
            self._add_score(r.reporter_score)
        if r.counterexample is None:
            return
        self.executions[r.execution] += 1
        if r.trial is not None and r.judge_ruling is not None and r.judge_ruling.valid is not None:
            self.executed += 1
            self.agreed += r.judge_ruling.valid == r.trial.valid

    def _add_score(self, score: Evaluation) -> None:
        total = self.reporters[score.reporter]
        for i, n in enumerate((score.detected, score.fake_positives, score.passed, score.real_positives)):
            total[i] += n
        self.scored[score.reporter] += 1

    def episode_rows(self) -> list[EpisodeRow]:
        return [EpisodeRow(execution=name, counterexamples=n) for name, n in sorted(self.executions.items())]

    def recipe_rows(self) -> list[RecipeRow]:
        return [recipe.row(scenario, name) for (scenario, name), recipe in sorted(self.recipes.items())]

    def reporter_rows(self) -> list[ReporterRow]:
        return [
            ReporterRow(
                reporter=name,
                rounds_scored=self.scored[name],
                fake_positives_caught=rate(caught, fakes),
                real_positives_passed=rate(passed, reals),
            )
            for name, (caught, fakes, passed, reals) in sorted(self.reporters.items())
        ]


@dataclass
class _ElkCounts:
    """Everything :func:`elk_metrics` counts in its one pass, plus one short row per game."""

    by_game: list[GameRow] = field(default_factory=list)
    scenarios: dict[str, _Scenario] = field(default_factory=lambda: defaultdict(_Scenario))
    rounds: _Rounds = field(default_factory=_Rounds)
    survived: int = 0
    valid: int = 0

    def add(self, record: GameRecord) -> None:
        if record.status != "complete" or "rounds" not in record.meta:
            return
        game = ElkGame.model_validate(record.meta)
        self.by_game.append(_game_row(record, game))
        self.scenarios[game.scenario].add(game)
        self.survived += game.outcome == "builder survives"
        self.valid += game.valid_counterexamples
        for r in game.rounds:
            self.rounds.add(game.scenario, r)

    def metrics(self) -> ElkMetrics | None:
        games = len(self.by_game)
        if not games:
            return None
        rounds = self.rounds
        return ElkMetrics(
            games=games,
            builder_survival_rate=rate(self.survived, games),
            mean_rounds=rounds.rounds / games,
            valid_counterexamples=self.valid,
            conceded_counterexamples=rounds.conceded,
            malformed_counterexamples=rounds.malformed,
            unreadable_rulings=rounds.unreadable,
            episodes_run=sum(rounds.executions[e] for e in _RUN),
            executed_rounds=rounds.settled,
            judge_agrees_with_execution=rate(rounds.agreed, rounds.executed),
            by_game=self.by_game,
            by_scenario=[s.row(name) for name, s in sorted(self.scenarios.items())],
            episodes=rounds.episode_rows(),
            recipes=rounds.recipe_rows(),
            reporters=rounds.reporter_rows(),
        )


def elk_metrics(records: Iterable[GameRecord]) -> ElkMetrics | None:
    """The protocol's figures in one pass over the records (a list or a stream); None when no game finished."""
    counts = _ElkCounts()
    for record in records:
        counts.add(record)
    return counts.metrics()
