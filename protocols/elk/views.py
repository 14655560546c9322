"""An ELK game round by round: each round's proposal and recipe, what the recipe's reporter scored on the world's
tampering test set beside the two references, the counterexample and the trial of the recipe on its episodes, the
attached reporter's score, and the ruling (with the judge's own beside an execution's) — in full for ``oversight
show RUN GAME_ID`` (model text as plain text, never as markup), as one table for ``oversight report``."""

from __future__ import annotations

from oversight.protocols.elk.records import Counterexample, ElkGame, ElkRound, Ruling
from oversight.protocols.elk.trials import Evaluation, RecipeResult, Trial
from rich.console import RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from oversight.records import GameRecord
from oversight.views import ReportView, ViewTable

_EXECUTION_STYLES = {"fake-positive": "green", "not-fake-positive": "yellow", "invalid-actions": "red"}
_VERDICTS = {True: "valid", False: "invalid", None: "unreadable"}
#: the reference reporters, as the views name them
_REFERENCES = {"truth-probe": "truth probe", "human-simulator": "human simulator"}
#: the record keys the report view shows (the rest stay in the page's generic game details)
_SHOWN_META = frozenset({"scenario", "outcome", "reason", "rounds"})


# figures, as short text -----------------------------------------------------------------------------------------


def _auroc(e: Evaluation, prefix: str = "95% ") -> str:
    """The evaluation's detection AUROC with its 95% interval, e.g. ``0.560 (95% 0.457–0.663)``; "n/a" without."""
    if e.auroc is None:
        return "n/a"
    ci = e.auroc_interval
    return f"{e.auroc:.3f}" + (f" ({prefix}{ci.low:.3f}–{ci.high:.3f})" if ci else "")


def _counts(e: Evaluation) -> str:
    """Fake positives the evaluation's reporter detected and real positives it passed, as counts."""
    return f"detected {e.detected}/{e.fake_positives} fake positives, passed {e.passed}/{e.real_positives} real ones"


def _reference(evaluations: list[Evaluation], name: str) -> Evaluation | None:
    return next((e for e in evaluations if e.reporter == name), None)


def _recipe(r: ElkRound) -> tuple[str, str]:
    """The proposal's recipe as (text, style): its canonical spelling, why it could not be read, or not executed."""
    if r.proposal.recipe is not None:
        return r.proposal.recipe, "default"
    if r.proposal.recipe_error is not None:
        return f"unreadable recipe: {r.proposal.recipe_error}", "red"
    return "not executed (a free-text proposal)", "dim"


def _episodes(counter: Counterexample) -> str:
    """The counterexample's attached actions: a family's skeleton or one episode, as arrows."""
    if counter.actions_error is not None:
        return "unreadable actions"
    if counter.actions is None:
        return "no episode attached"
    return f"{'family' if counter.family else 'episode'}: {' → '.join(counter.actions) or '(no actions)'}"


def _draws(t: Trial) -> str:
    """Episodes drawn for the trial, how many of them were valid, and how many were fake positives."""
    fakes = "fake positive" if t.fake_positives == 1 else "fake positives"
    return f"{t.drawn} drawn, {t.episodes} valid, {t.fake_positives} {fakes}"


def _ruling(ruling: Ruling, by: bool = True) -> str:
    """The ruling as one line: verdict, who made it (unless ``by`` is false), and its reason."""
    return _VERDICTS[ruling.valid] + (f" ({ruling.by})" if by else "") + f": {ruling.reason}"


def _trial_reason_shown(r: ElkRound, t: Trial) -> bool:
    """Whether the trial's reason needs a line of its own: not when the ruling already gives it."""
    return r.ruling is None or r.ruling.reason != t.reason


# the terminal ---------------------------------------------------------------------------------------------------


def _episode_lines(r: ElkRound) -> Text:
    text = Text(r.execution, style=_EXECUTION_STYLES.get(r.execution, "dim"))
    if r.execution_error:
        text.append(f"\n{r.execution_error}", style="red")
    if r.episode is not None:
        for number, step in enumerate(r.episode.steps, start=1):
            text.append(f"\n{number}. {step.action} ({step.actor}): {step.note}")
        seen = "; ".join(f"{sensor}: {reading}" for sensor, reading in r.episode.observations.items())
        text.append(f"\nhuman sees: {seen}")
        text.append(f"\ntruth: {'yes' if r.episode.truth_safe else 'no'}")
    return text


def _score_line(s: Evaluation) -> Text:
    return Text(f"{s.reporter}: {_counts(s)} · AUROC {_auroc(s)}")


def _test_set_lines(result: RecipeResult) -> Text:
    """The recipe's reporter on the tampering test set, then both references' AUROC."""
    if result.builder is None:
        text = Text(f"trains no reporter: {result.error or 'no result'}", style="red")
    else:
        text = Text(f"recipe's reporter: AUROC {_auroc(result.builder)} · {_counts(result.builder)}")
    for name, label in _REFERENCES.items():
        reference = _reference(result.references, name)
        if reference is not None:
            text.append(f"\n{label}: AUROC {_auroc(reference)}", style="dim")
    return text


def _trial_lines(r: ElkRound, t: Trial) -> Text:
    """The trial's episodes, the recipe's reporter and the references on them, and the verdict."""
    text = Text(_VERDICTS[t.valid], style="red" if t.valid else "green")
    text.append(f" · {_draws(t)}", style="default")
    if t.builder is not None:
        text.append(f"\nrecipe's reporter: {_counts(t.builder)} · AUROC {_auroc(t.builder)}")
    shown = [(label, _reference(t.references, name)) for name, label in _REFERENCES.items()]
    found = [f"{label} detected {e.detected}/{e.fake_positives}" for label, e in shown if e is not None]
    if found:
        text.append("\n" + " · ".join(found), style="dim")
    if _trial_reason_shown(r, t):
        text.append(f"\n{t.reason}")
    return text


def _ruling_text(ruling: Ruling, by: bool = True) -> Text:
    text = Text(_VERDICTS[ruling.valid], style="red" if ruling.valid else "green")
    text.append((f" ({ruling.by})" if by else "") + f": {ruling.reason}", style="default")
    return text


def _proposal_rows(grid: Table, r: ElkRound) -> None:
    grid.add_row("strategy", Text(r.proposal.strategy or "(none)"))
    if r.proposal.why:
        grid.add_row("why", Text(r.proposal.why))
    recipe, style = _recipe(r)
    grid.add_row("recipe", Text(recipe, style=style))
    if r.recipe_result is not None:
        grid.add_row("test set", _test_set_lines(r.recipe_result))
    if r.proposal.reporter_error:
        grid.add_row("reporter", Text(r.proposal.reporter_error, style="red"))
    elif r.proposal.reporter:
        grid.add_row("reporter", Text(r.proposal.reporter_prompt or r.proposal.reporter))


def _counterexample_rows(grid: Table, r: ElkRound, counter: Counterexample) -> None:
    if counter.conceded:
        grid.add_row("counterexample", Text("conceded", style="yellow"))
    else:
        grid.add_row("counterexample", Text(counter.story or "(none)"))
        grid.add_row("bad reporter", Text(counter.bad_reporter or "(none)"))
        grid.add_row("attached", Text(_episodes(counter)))
    grid.add_row("skeleton run" if counter.family else "episode", _episode_lines(r))
    if r.trial is not None:
        grid.add_row("trial", _trial_lines(r, r.trial))


def _round_panel(r: ElkRound) -> Panel:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    _proposal_rows(grid, r)
    if r.counterexample is not None:
        _counterexample_rows(grid, r, r.counterexample)
    if r.reporter_score is not None:
        grid.add_row("reporter score", _score_line(r.reporter_score))
    if r.ruling is not None:
        grid.add_row("ruling", _ruling_text(r.ruling))
    if r.judge_ruling is not None:
        grid.add_row("judge's ruling", _ruling_text(r.judge_ruling, by=False))
    return Panel(grid, title=Text(f"round {r.round}"), title_align="left", border_style="blue")


def elk_rounds(record: GameRecord) -> list[RenderableType]:
    """A panel per round (proposal, recipe and its test-set scores, counterexample, episode, trial, reporter score,
    rulings), then a line with the outcome; nothing for a record without rounds."""
    if "rounds" not in record.meta:
        return []
    game = ElkGame.model_validate(record.meta)
    outcome = Text(f"outcome: {game.outcome}", style="bold green" if game.outcome == "builder survives" else "bold red")
    outcome.append(
        f" ({game.reason}) · scenario {game.scenario} · valid counterexamples {game.valid_counterexamples}",
        style="default",
    )
    return [*(_round_panel(r) for r in game.rounds), outcome]


# the report -----------------------------------------------------------------------------------------------------

_PROPOSALS = ("round", "strategy", "recipe", "recipe AUROC (95% CI)", "truth probe AUROC", "human simulator AUROC")
_COUNTERS = (
    "round", "counterexample", "episodes", "trial: recipe's reporter", "attached reporter", "ruling", "judge's ruling"
)
#: columns left out when no round has a value for them
_OPTIONAL = frozenset({"attached reporter", "judge's ruling"})


def _figures(e: Evaluation) -> str:
    """Counts and AUROC, short enough for a table cell."""
    area = _auroc(e, prefix="")
    return f"detected {e.detected}/{e.fake_positives}, passed {e.passed}/{e.real_positives}, AUROC {area}"


def _proposal_row(r: ElkRound) -> list[object]:
    """The strategy, its recipe, and what the recipe's reporter and both references scored on the test set."""
    result = r.recipe_result
    if result is None:
        return [r.round, r.proposal.strategy, _recipe(r)[0], None, None, None]
    own = _auroc(result.builder, prefix="") if result.builder else f"trains no reporter: {result.error or 'no result'}"
    # a reference's interval is in the terminal view: the table keeps to the figure the recipe's is compared with
    references = [_reference(result.references, name) for name in _REFERENCES]
    shown = [f"{e.auroc:.3f}" if e and e.auroc is not None else None for e in references]
    return [r.round, r.proposal.strategy, _recipe(r)[0], own, *shown]


def _episodes_cell(r: ElkRound, counter: Counterexample) -> str:
    """The attached actions, with the trial's draws or what running them showed."""
    episodes = _episodes(counter)
    if r.trial is not None:
        episodes += f" ({_draws(r.trial)})"
    elif counter.actions is not None:
        episodes += f" ({r.execution})"
    return episodes + (f": {r.execution_error}" if r.execution_error else "")


def _trial_cell(r: ElkRound) -> str | None:
    """The recipe's reporter on the trial's episodes; the verdict and reason too when the ruling does not give them."""
    t = r.trial
    if t is None:
        return None
    parts = [f"{_counts(t.builder)}" if t.builder else "no reporter"]
    if _trial_reason_shown(r, t):
        parts.append(f"{_VERDICTS[t.valid]}: {t.reason}")
    return " · ".join(parts)


def _counterexample_row(r: ElkRound, counter: Counterexample) -> list[object]:
    score = r.reporter_score
    return [
        r.round, "conceded" if counter.conceded else counter.story, _episodes_cell(r, counter), _trial_cell(r),
        f"{score.reporter}: {_figures(score)}" if score else None,
        _ruling(r.ruling) if r.ruling else None,
        _ruling(r.judge_ruling, by=False) if r.judge_ruling else None,
    ]  # fmt: skip


def _table(title: str, columns: tuple[str, ...], rows: list[list[object]]) -> ViewTable:
    """A table of the rows, leaving out optional columns that no row fills."""
    keep = [i for i, name in enumerate(columns) if name not in _OPTIONAL or any(row[i] is not None for row in rows)]
    return ViewTable(title=title, columns=[columns[i] for i in keep], rows=[[row[i] for i in keep] for row in rows])


def rounds_view(record: GameRecord) -> ReportView | None:
    """Two tables under the game's outcome: each round's proposal with its recipe's test-set AUROC beside the
    references', then each counterexample with its episodes, the trial, the attached reporter and the rulings."""
    if "rounds" not in record.meta:
        return None
    game = ElkGame.model_validate(record.meta)
    proposals = _table("proposals, and their recipes on the tampering test set", _PROPOSALS,
                       [_proposal_row(r) for r in game.rounds])  # fmt: skip
    counters = [_counterexample_row(r, r.counterexample) for r in game.rounds if r.counterexample is not None]
    tables = [proposals]
    if counters:
        tables.append(_table("counterexamples, and the recipes on their episodes", _COUNTERS, counters))
    title = (
        f"{game.outcome} ({game.reason}) · scenario {game.scenario} · "
        f"valid counterexamples {game.valid_counterexamples}"
    )
    return ReportView(title=title, tables=tables, shown_meta=_SHOWN_META)
