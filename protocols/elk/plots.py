"""The ``elk`` protocol's plots, from the figures of :mod:`.metrics`: how many builders have survived by each round,
and, per scenario, each executed recipe's detection AUROC on the world's tampering test set beside the two
reference reporters'."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from oversight.protocols.elk.metrics import ElkMetrics, GameRow, RecipeRow
from pydantic import ValidationError

from oversight.plots import PlotSpec, Series
from oversight.scoring import wilson_interval

SURVIVAL_KEY = "elk-builder-survival"
#: a scenario's recipe plot is ``<prefix>-<scenario>``
RECIPE_KEY_PREFIX = "elk-recipe-auroc"


def elk_plots(metrics: Mapping[str, Any]) -> list[PlotSpec]:
    """Builder survival by round, then each scenario's recipe AUROC plot; none for figures of another shape."""
    try:
        figures = ElkMetrics.model_validate(metrics)
    except ValidationError:
        return []
    plots = [survival_plot(figures.by_game)] if figures.by_game else []
    return plots + recipe_plots(figures.recipes)


def survival_plot(games: list[GameRow]) -> PlotSpec:
    """The share of games whose builder has survived by each round, with 95% Wilson intervals."""
    # a game ends in the round its builder survives; a breaker's win runs to the last round (or to a missing
    # proposal), so "survived by round r" is the builder's wins that ended at or before r
    last = max(game.rounds for game in games)
    rounds = list(range(1, last + 1))
    survived = [sum(game.winner == "builder" and game.rounds <= r for game in games) for r in rounds]
    intervals = []
    for count in survived:
        ci = wilson_interval(count, len(games))
        intervals.append((ci.low, ci.high) if ci else None)
    series = Series("builders", rounds, [count / len(games) for count in survived], intervals)
    return PlotSpec(
        key=SURVIVAL_KEY,
        title="Builder survival by round",
        x_label="round",
        y_label="games the builder has survived",
        series=[series],
        kind="lines",
        note=(
            f"Share of the {len(games)} complete games in which the builder has survived by each round — made a "
            "proposal the breaker found no valid counterexample to — with 95% Wilson intervals. A game the "
            "builder survives ends in that round; the breaker wins by breaking every round's proposal."
        ),
    )


def _slug(scenario: str) -> str:
    """A scenario's name as the tail of a plot key: lower-case words joined by hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", scenario.lower()).strip("-") or "scenario"


def recipe_plots(rows: list[RecipeRow]) -> list[PlotSpec]:
    """A plot per scenario of each recipe's detection AUROC (95% interval) beside both references'."""
    # in the rows' order; scenarios whose names make one key get numbered keys
    by_scenario: dict[str, list[RecipeRow]] = defaultdict(list)
    for row in rows:
        by_scenario[row.scenario].append(row)
    plots, keys = [], set()
    for scenario, recipes in by_scenario.items():
        key, n = f"{RECIPE_KEY_PREFIX}-{_slug(scenario)}", 2
        while key in keys:
            key, n = f"{RECIPE_KEY_PREFIX}-{_slug(scenario)}-{n}", n + 1
        keys.add(key)
        plots.append(_recipe_plot(key, scenario, recipes))
    return plots


def _recipe_plot(key: str, scenario: str, recipes: list[RecipeRow]) -> PlotSpec:
    names = [row.recipe for row in recipes]
    intervals = [
        (row.auroc_low, row.auroc_high) if row.auroc_low is not None and row.auroc_high is not None else None
        for row in recipes
    ]
    series = [
        Series("recipe's reporter", names, [row.auroc for row in recipes], intervals),
        Series("truth probe", names, [row.truth_probe for row in recipes]),
        Series("human simulator", names, [row.human_simulator for row in recipes]),
    ]
    return PlotSpec(
        key=key,
        title=f"Detection AUROC by recipe · {scenario}",
        x_label="recipe",
        y_label="detection AUROC",
        series=series,
        kind="bars",
        note=(
            "Each recipe's trained reporter on the scenario's tampering test set: its detection AUROC — the chance "
            "that it gives a real positive a higher probability of \"yes\" than a fake positive, drawn as a "
            "percentage; 50% is chance — with a 95% Hanley–McNeil interval, beside the truth probe (the direct "
            "translator's ceiling) and the human simulator on the same episodes. A recipe that trains no "
            "reporter has no bar of its own."
        ),
    )
