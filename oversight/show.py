"""Terminal views of runs and games. Model text is shown as plain text, never interpreted as markup.

A run's summary is a list of :class:`Sheet` tables: the headline of every protocol, then each protocol's own
table and figures, in the protocols' display order (:mod:`oversight.display`). No cell of a sheet is ever wrapped,
so an interval always reads whole: a sheet is drawn as a grid where it fits the terminal's width, else as a block
of ``column: value`` lines per row. Piped output (no terminal, no ``COLUMNS``) has no width to fit: its grids are
plain and as wide as their cells.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from oversight.defaults import SHOWN_GAMES
from oversight.display import (
    figure_name,
    headlines,
    in_display_order,
    metric_sections,
    probability_label,
    protocol_class,
    seat_name,
    seating_text,
    splits,
    stated_beside_logprobs,
)
from oversight.errors import UserError
from oversight.models.cache import ResponseCache, default_cache_path
from oversight.quotes import highlight_quotes
from oversight.records import GameRecord, Interval, RunSummary
from oversight.runfolder import RunFolder
from oversight.scoring import group_name
from oversight.verdicts import choice_labels
from oversight.views import ViewTable, cell, to_json

if TYPE_CHECKING:
    from oversight.runner import RunResult

SEAT_STYLES = {"A": "cyan", "B": "magenta"}
#: the width piped output is laid out at: wider than any sheet, so nothing is wrapped
PIPED_WIDTH = 10_000


def _protocol_view(record: GameRecord) -> list[RenderableType] | None:
    """The game's protocol's own view (a tree, rounds); None when it has none or is no longer installed."""
    return protocol_class(record.protocol).terminal_view(record)


def _piped() -> bool:
    return not sys.stdout.isatty() and "COLUMNS" not in os.environ


def _console() -> Console:
    # a transcript is wrapped: piped, at 120 columns rather than rich's 80
    return Console(highlight=False, width=120 if _piped() else None)


def _pct(value: float | None, ci: Interval | None = None) -> str:
    if value is None:
        return "-"
    text = f"{value:.1%}"
    return f"{text} [{ci.low:.1%}, {ci.high:.1%}]" if ci else text


@dataclass
class Sheet:
    """A titled table of text, drawn by :class:`Screen` without ever wrapping a cell."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    #: how many leading columns name the row (aligned left); the others hold figures (aligned right)
    names: int = 1
    #: how to read the sheet, printed under it
    notes: list[str] = field(default_factory=list)


@dataclass
class Screen:
    """Where sheets and lines are printed: the terminal at its width, or piped output in a plain layout."""

    console: Console
    #: piped output: plain grids as wide as their cells
    plain: bool

    @classmethod
    def open(cls) -> Screen:
        """Standard output, at the terminal's width (or ``COLUMNS``); piped, at a width nothing reaches."""
        plain = _piped()
        return cls(Console(highlight=False, width=PIPED_WIDTH if plain else None), plain)

    def line(self, text: str | Text) -> None:
        """One line, never wrapped by us (a narrow terminal may still fold it)."""
        self.console.print(text if isinstance(text, Text) else Text(text), soft_wrap=True)

    def sheet(self, sheet: Sheet) -> None:
        """The sheet's title, then its grid where that fits the width unwrapped, else a block per row; then its
        notes."""
        self.line("")
        self.line(Text(sheet.title, style="bold"))
        grid = self._grid(sheet)
        # measured at a width nothing reaches: the grid's natural width, which rich would squeeze into the terminal's
        natural = Measurement.get(self.console, self.console.options.update_width(PIPED_WIDTH), grid).maximum
        if natural <= self.console.width:
            self.console.print(grid)
        else:
            self._blocks(sheet)
        for note in sheet.notes:
            self.console.print(Text(note, style="dim"))

    def table(self) -> Table:
        """An empty table in this screen's layout: boxed on a terminal, plain (a rule under the header) piped."""
        return Table(box=box.SIMPLE_HEAD if self.plain else box.HEAVY_HEAD, show_edge=not self.plain,
                     pad_edge=not self.plain)

    def _grid(self, sheet: Sheet) -> Table:
        table = self.table()
        for index, column in enumerate(sheet.columns):
            table.add_column(Text(column), justify="left" if index < sheet.names else "right", no_wrap=True)
        for row in sheet.rows:
            table.add_row(*(Text(value) for value in row))
        return table

    def _blocks(self, sheet: Sheet) -> None:
        """Each row as lines of ``column: value`` under the row's name: as narrow as a sheet can be."""
        for row in sheet.rows:
            if len(sheet.columns) == 2:
                self.line(f"  {row[0]}: {row[1]}")
                continue
            self.line("  " + " · ".join(row[: sheet.names]))
            for column, value in zip(sheet.columns[sheet.names :], row[sheet.names :], strict=True):
                self.line(f"    {column}: {value}")


def headline_sheet(summary: RunSummary) -> Sheet:
    """A row per protocol (and variant) in display order: its games and verdicts, and its headline figure with its
    95% interval, titled by what it measures; the notes say what is still to play and how to read the counts."""
    rows = headlines(summary)
    labels = list(dict.fromkeys(row.label for row in rows))
    scored = any(row.counts.judged for row in rows)
    counts = ["games", "failed", *(("correct", "wrong") if scored else ())]
    counts += [name for name in ("invalid_verdicts", "belief_disagrees") if any(getattr(r.counts, name) for r in rows)]
    measure = [] if len(labels) == 1 else ["measure"]
    result = f"{labels[0] if len(labels) == 1 else 'result'} [95% CI]"
    columns = ["protocol", *map(figure_name, counts), *measure, result]
    sheet = Sheet(f"run {summary.run_id}: each protocol's headline", columns)
    for row in rows:
        figures = [str(getattr(row.counts, name)) if row.counts.judged or name in ("games", "failed") else "-"
                   for name in counts]
        sheet.rows.append([row.group, *figures, *([row.label] if measure else []), _pct(row.value, row.interval)])
    if summary.pending:
        sheet.notes.append(f"{summary.pending} games not played yet (rerun the same command to resume)")
    if "invalid_verdicts" in counts:
        sheet.notes.append("invalid verdicts count as not correct")
    if "belief_disagrees" in counts:
        sheet.notes.append("belief≠answer: the judge's probabilities favoured another answer than the one it gave")
    sheet.notes += [f"{n} question(s) of the task skipped ({reason})" for reason, n in summary.skipped_items.items()]
    return sheet


def _view_sheet(view: ViewTable) -> Sheet:
    return Sheet(view.title, view.columns, [[cell(value) for value in row] for row in view.rows])


def protocol_sheets(summary: RunSummary) -> list[Sheet | tuple[str, str]]:
    """Per protocol, in display order: one table of its headline and figures, then its tables of rows, its
    accuracy by item metadata and (as a title and JSON) any other figures, each titled with the protocol."""
    heads = headlines(summary)
    sections = {section.protocol: section for section in metric_sections(summary)}
    by_group = splits(summary)
    names = in_display_order({row.group.partition("/")[0] for row in heads} | set(sections))
    shown: list[Sheet | tuple[str, str]] = []
    for name in names:
        main = Sheet(f"{name} metrics", ["figure", "value"])
        for row in heads:
            protocol, _, variant = row.group.partition("/")
            if protocol == name:
                main.rows.append([row.label + (f" ({variant})" if variant else ""), _pct(row.value, row.interval)])
        section = sections.get(name)
        main.rows += [[title, cell(value)] for title, value in section.scalars] if section else []
        shown.append(main)
        shown += [_view_sheet(table) for table in section.tables] if section else []
        if section and section.other:
            shown.append((f"{name} · other figures", to_json(section.other)))
        for split in by_group:
            if split.group.partition("/")[0] == name:
                shown.append(Sheet(
                    f"{split.group} · {split.label} by {split.key}",
                    [split.key, figure_name("judged"), f"{split.label} [95% CI]"],
                    [[value, str(p.judged), _pct(p.accuracy, p.accuracy_ci95)] for value, p in split.rows],
                ))
    return shown


def usage_sheet(summary: RunSummary) -> Sheet:
    """A row per role: its model calls, how many the cache answered, its prompt and completion tokens, and the
    prompt tokens its backend reused from a prompt cache ("-" where no backend said)."""
    sheet = Sheet(
        "token usage by role", ["role", "calls", "cached", "prompt tokens", "reused by the backend", "completion tokens"]
    )
    for role, usage in summary.usage_by_role.items():
        reused = str(usage.cached_prompt_tokens) if usage.reuse_reported_calls else "-"
        sheet.rows.append([role, str(usage.calls), str(usage.cached_calls), str(usage.prompt_tokens), reused,
                           str(usage.completion_tokens)])
    return sheet


def per_game_sheet(summary: RunSummary) -> Sheet:
    """A row per protocol: its games and, per game, the prompt tokens sent, those the backend computed rather than
    reused from its prompt cache ("-" unless every call sent to a backend said), and the completion tokens."""
    sheet = Sheet("tokens per game by protocol",
                  ["protocol", "games", "prompt tokens", "computed by the backend", "completion tokens"])
    for name, usage in summary.usage_by_protocol.items():
        games = summary.by_protocol[name].games if name in summary.by_protocol else 0
        if not games:
            continue
        sent = usage.calls - usage.cached_calls
        told = usage.reuse_reported_calls == sent > 0
        computed = f"{usage.computed_prompt_tokens / games:,.0f}" if told else "-"
        sheet.rows.append([name, str(games), f"{usage.prompt_tokens / games:,.0f}", computed,
                           f"{usage.completion_tokens / games:,.0f}"])
    return sheet


def ratings_sheets(summary: RunSummary) -> list[Sheet]:
    """Player ratings with their 95% intervals and judge accuracy against the debaters' mean rating, where there
    are any, then judge accuracy by judge and protocol (protocols in display order); none without ratings."""
    if not summary.ratings:
        return []
    sheets = []
    if summary.ratings["players"]:
        players = Sheet("player ratings (Bradley–Terry, Elo scale, 95% bootstrap interval)",
                        ["player", "rating", "interval", "games", "win rate", "as honest", "as dishonest"])
        for row in summary.ratings["players"]:
            ci = row["rating_ci95"]
            players.rows.append([
                row["player"], f"{row['rating']:.0f}", f"[{ci['low']:.0f}, {ci['high']:.0f}]", str(row["games"]),
                _pct(row["win_rate"]), _pct(row["honest_win_rate"]), _pct(row["dishonest_win_rate"]),
            ])
        sheets.append(players)
    order = {name: i for i, name in enumerate(in_display_order({r["protocol"] for r in summary.ratings["judges"]}))}
    if vs := summary.ratings.get("accuracy_vs_rating") or []:
        trend = Sheet("judge accuracy vs debater rating",
                      ["judge", "protocol", "debaters", "mean rating", "games", "judge accuracy [95% CI]"], names=3)
        for row in sorted(vs, key=lambda r: (r["judge"], order.get(r["protocol"], len(order)), r["mean_rating"])):
            trend.rows.append([row["judge"], row["protocol"], " vs ".join(row["debaters"]), f"{row['mean_rating']:.0f}",
                               str(row["games"]), _pct(row["accuracy"], Interval(**row["accuracy_ci95"]))])
        sheets.append(trend)
    judges = Sheet("accuracy by judge and protocol", ["judge", "protocol", "games", "accuracy [95% CI]"], names=2)
    for row in sorted(summary.ratings["judges"], key=lambda r: (r["judge"], order[r["protocol"]])):
        ci = Interval(**row["accuracy_ci95"]) if row["accuracy_ci95"] else None
        judges.rows.append([row["judge"], row["protocol"], str(row["judged"]), _pct(row["accuracy"], ci)])
    return [*sheets, judges]


def _print_summary(screen: Screen, summary: RunSummary) -> None:
    screen.sheet(headline_sheet(summary))
    for shown in [*protocol_sheets(summary), *ratings_sheets(summary)]:
        if isinstance(shown, Sheet):
            screen.sheet(shown)
        else:
            screen.line(Text(shown[0], style="bold"))
            screen.line(shown[1])


def look_commands(path: Path) -> list[str]:
    """The commands that show a run folder: its summary and games in the terminal, and its HTML report."""
    where = shlex.quote(str(path))
    return [f"oversight show {where}", f"oversight report {where}"]


def print_run_result(result: RunResult) -> None:
    """What a finished run prints: its summary, protocol, ratings and usage tables, how it ended (and that nothing
    was left to play, when the folder already held every game), then the commands that show it."""
    screen = Screen.open()
    _print_summary(screen, result.summary)
    screen.sheet(usage_sheet(result.summary))
    screen.sheet(per_game_sheet(result.summary))
    screen.line(result.outcome())  # one line, however long the folder's path
    summary = result.summary
    if not result.played and not summary.pending and not summary.failed:
        screen.line(f"nothing left to play: all {summary.games:,} games are already in {result.folder.path}")
    screen.line("see it with:")
    for command in look_commands(result.folder.path):
        screen.line(f"  {command}")


def _verdict_text(record: GameRecord) -> Text:
    if record.status == "failed":
        return Text("failed", style="red")
    if record.verdict is None:
        return Text("-")
    if record.verdict.choice is None:
        return Text("invalid", style="yellow")
    label = choice_labels(len(record.choices))[record.verdict.choice]
    style = "green" if record.correct else "red"
    prob = record.verdict.probabilities
    suffix = f" ({prob[record.verdict.choice]:.0%})" if prob else ""
    return Text(f"{label}{suffix}", style=style)


def find_game(folder: RunFolder, prefix: str) -> GameRecord:
    """The game whose id starts with ``prefix``, read through the log's index; no match, or several, is an error."""
    index = folder.index()
    matches = index.with_prefix(prefix)
    if not matches:
        raise UserError(f"{folder.path}: no game {prefix!r}")
    if len(matches) > 1:
        raise UserError(f"{folder.path}: {prefix!r} matches {len(matches)} games; give more of the id")
    return next(folder.records_at([index.last_offset(matches[0])]))


def print_summary_json(folder: RunFolder) -> None:
    """``summary.json`` as the run wrote it: every figure under its key."""
    if not folder.summary_path.is_file():
        raise UserError(f"{folder.path}: no summary yet (the run stopped before writing it; rerun it to finish)")
    sys.stdout.write(folder.summary_path.read_text(encoding="utf-8"))


def print_run(folder: RunFolder, games: int | None = SHOWN_GAMES) -> None:
    """The run's summary tables, then its first ``games`` games in log order (all of them for None)."""
    screen = Screen.open()
    console = screen.console
    manifest = folder.read_manifest()
    summary = folder.read_summary()
    screen.line(f"{folder.path} · {manifest.status} · started {manifest.started_at:%Y-%m-%d %H:%M:%S} UTC")
    console.print(Text("roles: " + ", ".join(f"{r}={s}" for r, s in manifest.models.items())))
    if summary is not None:
        _print_summary(screen, summary)
    index = folder.index()
    listed = index.offsets[:games] if games is not None else index.offsets
    left = len(index.offsets) - len(listed)
    screen.line("")
    screen.line(Text(f"games (the first {len(listed):,} of {len(index.offsets):,})" if left else "games", style="bold"))
    table = screen.table()
    table.add_column("game", no_wrap=True)
    for column in ("protocol", "item", "seats", "status", "verdict (p)", "correct"):
        table.add_column(column)
    for record in folder.records_at(listed):
        correct = "-" if record.correct is None else ("yes" if record.correct else "no")
        table.add_row(
            record.game_id, group_name(record), Text(record.item_id), seating_text(record) or "-", record.status,
            _verdict_text(record), correct,
        )
    if listed:
        console.print(table)
    if left:
        screen.line(f"{left:,} more games not listed (--games N lists N, --games all every game)")


def _verdict_lines(record: GameRecord, labels: list[str]) -> list[Text]:
    """The verdict, then its probabilities labelled by where they came from, and a confidence the judge wrote when
    that is not what the probabilities are."""
    verdict = record.verdict
    line = Text("verdict: ")
    line.append_text(_verdict_text(record))
    lines = [line]
    if verdict is not None and verdict.probabilities:
        probs = ", ".join(f"{lab} {p:.0%}" for lab, p in zip(labels, verdict.probabilities, strict=True))
        lines.append(Text(f"  {probability_label(verdict.source)}: {probs}"))
    if verdict is not None and (stated := stated_beside_logprobs(verdict)) is not None:
        lines.append(Text(f"  stated confidence in the judge's reply: {stated:.0%}"))
    return lines


def print_game(record: GameRecord) -> None:
    """One game in full: the question with its choices and answer, the protocol's own view (else every turn),
    any error, then the verdict with its probabilities or, without one, whether the game was correct."""
    console = _console()
    labels = choice_labels(len(record.choices))
    header = Text()
    header.append(f"game {record.game_id} · {record.protocol} · item {record.item_id}\n", style="bold")
    header.append(record.question + "\n")
    for label, choice in zip(labels, record.choices, strict=True):
        mark = " (correct)" if record.answer is not None and labels.index(label) == record.answer else ""
        header.append(f"  {label}. {choice}{mark}\n")
    if not record.choices and record.answer is not None:
        header.append(f"  answer: {record.answer}\n")
    if record.seating:
        header.append(seating_text(record) + "\n")
    console.print(header)
    view = _protocol_view(record)
    if view is None:
        _print_turns(console, record)
    for renderable in view or ():
        console.print(renderable)
    if record.error:
        console.print(Text(f"error: {record.error}", style="red"))
    if record.verdict is None:
        if record.correct is not None:
            console.print(Text(f"correct: {'yes' if record.correct else 'no'}", style="green" if record.correct else "red"))
        return
    for line in _verdict_lines(record, labels):
        console.print(line)


def print_prompts(record: GameRecord) -> None:
    """The messages each of the game's model calls sent, as the response cache keeps them under the call's key."""
    path = default_cache_path()
    if not path.is_file():
        raise UserError(f"{path}: no response cache, so what the calls sent is unknown (OVERSIGHT_CACHE_DIR moves it)")
    console = _console()
    cache = ResponseCache(path)
    try:
        for number, call in enumerate(record.calls, start=1):
            cached = " · cached" if call.cached else ""
            console.print(Text(f"\ncall {number} · {call.role} · {call.model}{cached}", style="bold"))
            stored = cache.request(call.key) if call.key else None
            if call.key is None:
                console.print(Text("the record does not say which request this was (an older version wrote it)",
                                   style="yellow"))
            elif stored is None:
                console.print(Text("not in the response cache: the run used --no-cache, or the cache was cleared",
                                   style="yellow"))
            for message in stored.messages if stored else []:
                console.print(Text(f"[{message.role}]", style="dim"))
                console.print(Text(message.content), soft_wrap=True)  # as sent: no wrapping added
    finally:
        cache.close()


def _print_turns(console: Console, record: GameRecord) -> None:
    labels = choice_labels(len(record.choices))
    for turn in record.turns:
        style = SEAT_STYLES.get(turn.seat or "", "white")
        # a seat by its protocol's name for it: the stored speaker ("Debater A") reads like an answer
        title = seat_name(record.protocol, turn.seat) if turn.seat else str(turn.meta.get("speaker") or turn.role)
        title += f" · round {turn.round}" if turn.round else ""
        title += f" · {kind}" if (kind := turn.meta.get("kind")) and kind != "argument" else ""
        defends = turn.meta.get("defends")
        title += f" · defends {labels[defends]}" if isinstance(defends, int) and 0 <= defends < len(labels) else ""
        title += f" · {side} side" if (side := turn.meta.get("side")) else ""
        body = highlight_quotes(Text(turn.meta.get("shown", turn.content)), unverified="bold red")
        console.print(Panel(body, title=Text(title), title_align="left", border_style=style))


def print_listing(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Rows of text under the named columns, as one titled table."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    _console().print(table)
