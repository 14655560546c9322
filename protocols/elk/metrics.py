"""Run-level figures for ELK games: who survived, how counterexamples fared, what executed episodes showed.

Scalars go in one table; each list of rows is a table of its own (``oversight show`` prints both).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from oversight.protocols.elk.records import ElkGame, ElkRound
from oversight.protocols.elk.reporters import ReporterScore

from oversight.records import GameRecord

_RUN = ("fake-positive", "not-fake-positive", "invalid-actions")


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _game_row(record: GameRecord, game: ElkGame) -> dict[str, Any]:
    """Short keys keep the table inside a terminal: survived = rounds survived, valid = valid counterexamples,
    episodes = breaker episodes attached (run or refused), fooled = those that fooled every sensor."""
    executions = Counter(r.execution for r in game.rounds)
    return {
        "item": record.item_id,
        "winner": "builder" if game.outcome == "builder survives" else "breaker",
        "rounds": len(game.rounds),
        "survived": game.rounds_survived,
        "valid": game.valid_counterexamples,
        "episodes": sum(executions[e] for e in _RUN),
        "fooled": executions["fake-positive"],
    }


@dataclass
class _Scenario:
    games: int = 0
    builder_survived: int = 0
    rounds: int = 0
    valid_counterexamples: int = 0


def _scenario_rows(scenarios: dict[str, _Scenario]) -> list[dict[str, Any]]:
    return [
        {
            "scenario": name,
            "games": s.games,
            "builder_survived": s.builder_survived,
            "mean_rounds": s.rounds / s.games,
            "valid_counterexamples": s.valid_counterexamples,
        }
        for name, s in sorted(scenarios.items())
    ]


def _reporter_rows(totals: dict[str, ReporterScore], scored: Counter[str]) -> list[dict[str, Any]]:
    return [
        {
            "reporter": name,
            "rounds_scored": scored[name],
            "breaker_episode_accuracy": _rate(total.breaker_correct, total.breaker_episodes),
            "suite_accuracy": _rate(total.suite_correct, total.suite),
            "fake_positives_caught": _rate(total.fake_positives_caught, total.fake_positives),
            "real_positives_passed": _rate(total.real_positives_passed, total.real_positives),
        }
        for name, total in sorted(totals.items())
    ]


_SCORE_FIELDS = ("breaker_episodes", "breaker_correct", "suite", "suite_correct", "fake_positives",
                 "fake_positives_caught", "real_positives", "real_positives_passed")  # fmt: skip


class _Rounds:
    """Counts over every round of every game."""

    def __init__(self) -> None:
        self.rounds = self.conceded = self.malformed = self.unreadable = self.checked = self.agreed = 0
        #: counterexamples by what executing them showed
        self.executions: Counter[str] = Counter()
        #: reporter → its scores summed, and how many rounds scored it
        self.reporters: dict[str, ReporterScore] = {}
        self.scored: Counter[str] = Counter()

    def add(self, r: ElkRound) -> None:
        self.rounds += 1
        self.conceded += bool(r.counterexample and r.counterexample.conceded)
        self.malformed += bool(r.counterexample and r.counterexample.malformed)
        self.unreadable += bool(r.ruling and r.ruling.valid is None)
        if (score := r.reporter_score) is not None:
            total = self.reporters.setdefault(score.reporter, ReporterScore(reporter=score.reporter))
            for field in _SCORE_FIELDS:
                setattr(total, field, getattr(total, field) + getattr(score, field))
            self.scored[score.reporter] += 1
        if r.counterexample is None:
            return
        self.executions[r.execution] += 1
        # the judge's ruling against the executed ground truth: valid exactly when the episode fooled every sensor
        if r.ruling and r.ruling.by == "judge" and r.ruling.valid is not None and r.execution in _RUN:
            self.checked += 1
            self.agreed += bool(r.ruling.valid) == (r.execution == "fake-positive")


def elk_metrics(records: Iterable[GameRecord]) -> dict[str, Any]:
    """One pass over the records (a list or a stream): counts, plus one short row per game."""
    by_game: list[dict[str, Any]] = []
    scenarios: dict[str, _Scenario] = defaultdict(_Scenario)
    rounds = _Rounds()
    survived = valid = 0
    for record in records:
        if record.status != "complete" or "rounds" not in record.meta:
            continue
        game = ElkGame.model_validate(record.meta)
        by_game.append(_game_row(record, game))
        won = game.outcome == "builder survives"
        scenario = scenarios[game.scenario]
        scenario.games += 1
        scenario.builder_survived += won
        scenario.rounds += len(game.rounds)
        scenario.valid_counterexamples += game.valid_counterexamples
        survived += won
        valid += game.valid_counterexamples
        for r in game.rounds:
            rounds.add(r)
    games = len(by_game)
    if not games:
        return {}
    return {
        "games": games,
        "builder_survival_rate": _rate(survived, games),
        "mean_rounds": rounds.rounds / games,
        "valid_counterexamples": valid,
        "conceded_counterexamples": rounds.conceded,
        "malformed_counterexamples": rounds.malformed,
        "unreadable_rulings": rounds.unreadable,
        "episodes_run": sum(rounds.executions[e] for e in _RUN),
        "judge_agrees_with_execution": _rate(rounds.agreed, rounds.checked),
        "by_game": by_game,
        "by_scenario": _scenario_rows(scenarios),
        "episodes": [
            {"execution": name, "counterexamples": count} for name, count in sorted(rounds.executions.items())
        ],
        "reporters": _reporter_rows(rounds.reporters, rounds.scored),
    }
