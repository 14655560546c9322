"""An ELK game round by round: each round's proposal, counterexample, executed episode, reporter score and
ruling, then the outcome — in full for ``oversight show RUN GAME_ID`` (model text as plain text, never as
markup), as one table for ``oversight report``."""

from __future__ import annotations

from oversight.protocols.elk.records import ElkGame, ElkRound
from oversight.protocols.elk.trials import Evaluation
from rich.console import RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from oversight.records import GameRecord
from oversight.views import ReportView, ViewTable

_EXECUTION_STYLES = {"fake-positive": "green", "not-fake-positive": "yellow", "invalid-actions": "red"}


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
    auroc = "n/a" if s.auroc is None else f"{s.auroc:.2f}"
    return Text(
        f"{s.reporter}: fake positives detected {s.detected}/{s.fake_positives} · real positives passed "
        f"{s.passed}/{s.real_positives} · AUROC {auroc}"
    )


def _round_panel(r: ElkRound) -> Panel:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("strategy", Text(r.proposal.strategy or "(none)"))
    if r.proposal.why:
        grid.add_row("why", Text(r.proposal.why))
    if r.proposal.reporter_error:
        grid.add_row("reporter", Text(r.proposal.reporter_error, style="red"))
    elif r.proposal.reporter:
        grid.add_row("reporter", Text(r.proposal.reporter_prompt or r.proposal.reporter))
    counter = r.counterexample
    if counter is not None:
        if counter.conceded:
            grid.add_row("counterexample", Text("conceded", style="yellow"))
        else:
            grid.add_row("counterexample", Text(counter.story or "(none)"))
            grid.add_row("bad reporter", Text(counter.bad_reporter or "(none)"))
        grid.add_row("episode", _episode_lines(r))
    if r.reporter_score is not None:
        grid.add_row("reporter score", _score_line(r.reporter_score))
    if r.ruling is not None:
        label = {True: "valid", False: "invalid", None: "unreadable"}[r.ruling.valid]
        ruling = Text(label, style="red" if r.ruling.valid else "green")
        ruling.append(f" ({r.ruling.by}): {r.ruling.reason}", style="default")
        grid.add_row("ruling", ruling)
    return Panel(grid, title=Text(f"round {r.round}"), title_align="left", border_style="blue")


def elk_rounds(record: GameRecord) -> list[RenderableType]:
    """A panel per round (proposal, counterexample, episode, reporter score, ruling), then a line with the outcome;
    nothing for a record without rounds."""
    if "rounds" not in record.meta:
        return []
    game = ElkGame.model_validate(record.meta)
    outcome = Text(f"outcome: {game.outcome}", style="bold green" if game.outcome == "builder survives" else "bold red")
    outcome.append(
        f" ({game.reason}) · scenario {game.scenario} · valid counterexamples {game.valid_counterexamples}",
        style="default",
    )
    return [*(_round_panel(r) for r in game.rounds), outcome]


def _ruling(r: ElkRound) -> str:
    if r.ruling is None:
        return ""
    label = {True: "valid", False: "invalid", None: "unreadable"}[r.ruling.valid]
    return f"{label} ({r.ruling.by}): {r.ruling.reason}"


def _counterexample(r: ElkRound) -> str:
    if r.counterexample is None:
        return ""
    return "conceded" if r.counterexample.conceded else r.counterexample.story


def rounds_view(record: GameRecord) -> ReportView | None:
    """A row per round (strategy, counterexample, what its episode showed, ruling) under the game's outcome."""
    if "rounds" not in record.meta:
        return None
    game = ElkGame.model_validate(record.meta)
    rows = [[r.round, r.proposal.strategy, _counterexample(r), r.execution, _ruling(r)] for r in game.rounds]
    table = ViewTable(title="", columns=["round", "strategy", "counterexample", "episode", "ruling"], rows=rows)
    return ReportView(title=f"{game.outcome} ({game.reason}) · scenario {game.scenario}", tables=[table])
