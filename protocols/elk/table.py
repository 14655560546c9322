"""Every recipe on every executable world, as one measurement-tampering table:
``python -m oversight.protocols.elk.table [--seed N] [--markdown]``.

For each world: the predictor's held-out sensor accuracy, then per recipe (every base with default parameters,
and every recipe the scenario's known proposals name) its reporter's detection AUROC on the world's tampering
test set with a 95% interval, the share of fake positives it detects and of real positives it passes, beside the
truth-fitted probe and the human-belief probe on the same episodes. A game records the same figures for each
recipe a builder proposes (``summary.json``'s ``recipes`` rows); this prints them all at once without playing.
"""

from __future__ import annotations

import argparse
import time

from oversight.protocols.elk.predictor import predictor_for
from oversight.protocols.elk.recipes import BASES, parse_recipe
from oversight.protocols.elk.scenarios import library
from oversight.protocols.elk.trials import Evaluation, held_out_positives, recipe_result

COLUMNS = ("world", "recipe", "AUROC [95%]", "detected", "passed", "truth probe", "human simulator")


def _auroc(e: Evaluation | None) -> str:
    if e is None or e.auroc is None:
        return "n/a"
    interval = e.auroc_interval
    return f"{e.auroc:.2f} [{interval.low:.2f}, {interval.high:.2f}]" if interval else f"{e.auroc:.2f}"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def rows(seed: int = 0) -> tuple[list[list[str]], list[str]]:
    """The table's rows for every executable scenario, and a line per world on its predictor and test set."""
    table: list[list[str]] = []
    notes: list[str] = []
    for scenario in library():
        world = scenario.world
        if world is None:
            continue
        predictor = predictor_for(world, seed)
        fakes, reals = held_out_positives(world, seed)
        notes.append(
            f"{scenario.id}: predictor sensor accuracy {predictor.sensor_accuracy:.3f} (all sensors right on "
            f"{predictor.episode_accuracy:.1%} of held-out episodes); test set {len(fakes)} fake and "
            f"{len(reals)} real positives"
        )
        named = [*BASES, *(m.recipe for m in scenario.moves if m.recipe)]
        for text in dict.fromkeys(named):
            recipe, _ = parse_recipe(text, world)
            assert recipe is not None
            result = recipe_result(recipe, world, seed)
            refs = {e.reporter: e for e in result.references}
            builder = result.builder
            table.append([
                scenario.id, recipe.text, result.error or _auroc(builder),
                _share(builder.detection_rate if builder else None), _share(builder.pass_rate if builder else None),
                _auroc(refs.get("truth-probe")), _auroc(refs.get("human-simulator")),
            ])
    return table, notes


def main(argv: list[str] | None = None) -> None:
    """Print the table (a rich table, or Markdown with ``--markdown``) and how long it took."""
    parser = argparse.ArgumentParser(prog="python -m oversight.protocols.elk.table", description=__doc__)
    parser.add_argument("--seed", type=int, default=0, help="the predictor's, recipes' and test set's seed")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    table, notes = rows(args.seed)
    if args.markdown:
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "---|" * len(COLUMNS))
        for row in table:
            print("| " + " | ".join(row) + " |")
    else:
        from rich.console import Console
        from rich.table import Table

        shown = Table(*COLUMNS)
        for row in table:
            shown.add_row(*row)
        Console().print(shown)
    for note in notes:
        print(note)
    print(f"seed {args.seed}; {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
