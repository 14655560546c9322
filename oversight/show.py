"""Terminal views of runs and games. Model text is shown as plain text, never interpreted as markup."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from rich.console import Console, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from oversight.defaults import SHOWN_GAMES
from oversight.errors import UserError
from oversight.metrics import metric_sections
from oversight.models.cache import ResponseCache, default_cache_path
from oversight.protocol import PROTOCOLS
from oversight.quotes import highlight_quotes
from oversight.records import GameRecord, Interval, RunSummary
from oversight.runfolder import RunFolder
from oversight.scoring import group_name
from oversight.verdicts import choice_labels
from oversight.views import ViewTable, cell, to_json

if TYPE_CHECKING:
    from oversight.runner import RunResult

SEAT_STYLES = {"A": "cyan", "B": "magenta"}


def _protocol_view(record: GameRecord) -> list[RenderableType] | None:
    """The game's protocol's own view (a tree, rounds); None when it has none or is no longer installed."""
    try:
        protocol = PROTOCOLS.get(record.protocol)
    except UserError:
        return None
    return protocol.terminal_view(record)


def _console() -> Console:
    # piped output has no terminal width; rich's 80 columns would wrap the interval columns
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=120 if piped else None)


def _pct(value: float | None, ci: Interval | None = None) -> str:
    if value is None:
        return "-"
    text = f"{value:.1%}"
    return f"{text} [{ci.low:.1%}, {ci.high:.1%}]" if ci else text


def summary_table(summary: RunSummary) -> Table:
    """A row per protocol: games, failures, right, wrong and invalid verdicts, accuracy with its 95% interval; the
    caption notes games still to play, skipped questions and how to read the counts."""
    table = Table(title=f"run {summary.run_id}", title_justify="left")
    columns = ("protocol", "games", "failed", "correct", "wrong", "invalid", "accuracy [95% CI]", "belief≠answer")
    for column in columns:
        wide = column in ("protocol", "accuracy [95% CI]")
        table.add_column(column, justify="left" if column == "protocol" else "right", no_wrap=wide)
    for name, p in summary.by_protocol.items():
        table.add_row(
            name, str(p.games), str(p.failed), str(p.correct), str(p.wrong), str(p.invalid_verdicts),
            _pct(p.accuracy, p.accuracy_ci95), str(p.belief_disagrees),
        )
    notes = [f"{summary.pending} games not played yet (rerun the same command to resume)"] if summary.pending else []
    if any(p.invalid_verdicts for p in summary.by_protocol.values()):
        notes.append("invalid verdicts count as not correct")
    if any(p.belief_disagrees for p in summary.by_protocol.values()):
        notes.append("belief≠answer: the judge's probabilities favoured another answer than the one it gave")
    notes += [f"{n} question(s) of the task skipped ({reason})" for reason, n in summary.skipped_items.items()]
    if notes:
        table.caption = "; ".join(notes)
    return table


def split_tables(summary: RunSummary) -> list[Table]:
    """Accuracy by the value of each item metadata key the summary splits on: a row per value, a column per
    protocol, each cell the accuracy with its 95% interval and the number of judged games."""
    tables = []
    for key, by_value in summary.by_meta.items():
        protocols = list(dict.fromkeys(name for groups in by_value.values() for name in groups))
        table = Table(title=f"accuracy by {key}", title_justify="left")
        table.add_column(key)
        for name in protocols:
            table.add_column(name, justify="right")
        for value, groups in by_value.items():
            cells = [
                f"{_pct(p.accuracy, p.accuracy_ci95)} n={p.judged}" if (p := groups.get(name)) else "-"
                for name in protocols
            ]
            table.add_row(Text(value), *cells)
        tables.append(table)
    return tables


def usage_table(summary: RunSummary) -> Table:
    """A row per role: its model calls, how many the cache answered, and its prompt and completion tokens."""
    table = Table(title="token usage by role", title_justify="left")
    for column in ("role", "calls", "cached", "prompt tokens", "completion tokens"):
        table.add_column(column, justify="left" if column == "role" else "right")
    for role, usage in summary.usage_by_role.items():
        table.add_row(role, str(usage.calls), str(usage.cached_calls), str(usage.prompt_tokens), str(usage.completion_tokens))
    return table


def metric_tables(summary: RunSummary) -> list[RenderableType]:
    """Protocol metrics, as :func:`oversight.metrics.metric_sections` lays them out: per protocol, its scalars in
    one table, each list of rows as a table of its own, and any other figures as JSON."""
    rendered: list[RenderableType] = []
    for section in metric_sections(summary):
        if section.scalars:
            scalars = Table(title=Text(f"{section.protocol} metrics"), title_justify="left")
            scalars.add_column("metric")
            scalars.add_column("value", justify="right")
            for name, value in section.scalars:
                scalars.add_row(Text(name), Text(cell(value)))
            rendered.append(scalars)
        rendered += [_view_table(table) for table in section.tables]
        if section.other:
            title = Text(f"other {section.protocol} figures")
            rendered.append(Panel(Text(to_json(section.other)), title=title, title_align="left"))
    return rendered


def _view_table(view: ViewTable) -> Table:
    table = Table(title=Text(view.title), title_justify="left")
    for column in view.columns:
        table.add_column(Text(column), justify="right")
    for row in view.rows:
        table.add_row(*(Text(cell(value)) for value in row))
    return table


def ratings_tables(summary: RunSummary) -> list[Table]:
    """Player ratings with their 95% intervals and judge accuracy against the debaters' mean rating, where there
    are any, then judge accuracy; none for a run without ratings."""
    if not summary.ratings:
        return []
    players = Table(title="player ratings (Bradley–Terry, Elo scale, 95% bootstrap interval)", title_justify="left")
    for column in ("player", "rating", "interval", "games", "win rate", "as honest", "as dishonest"):
        players.add_column(column, justify="left" if column == "player" else "right")
    for row in summary.ratings["players"]:
        ci = row["rating_ci95"]
        players.add_row(
            Text(row["player"]), f"{row['rating']:.0f}", f"[{ci['low']:.0f}, {ci['high']:.0f}]", str(row["games"]),
            _pct(row["win_rate"]), _pct(row["honest_win_rate"]), _pct(row["dishonest_win_rate"]),
        )
    judges = Table(title="judge accuracy", title_justify="left")
    for column in ("judge", "protocol", "games", "accuracy (95% CI)"):
        judges.add_column(column, justify="left" if column in ("judge", "protocol") else "right")
    for row in summary.ratings["judges"]:
        ci = Interval(**row["accuracy_ci95"]) if row["accuracy_ci95"] else None
        judges.add_row(Text(row["judge"]), row["protocol"], str(row["judged"]), _pct(row["accuracy"], ci))
    tables = [players] if summary.ratings["players"] else []
    vs = summary.ratings.get("accuracy_vs_rating") or []
    if vs:
        trend = Table(title="judge accuracy vs debater rating", title_justify="left")
        for column in ("judge", "protocol", "debaters", "mean rating", "games", "judge accuracy"):
            trend.add_column(column, justify="left" if column in ("judge", "protocol", "debaters") else "right")
        for row in sorted(vs, key=lambda r: (r["judge"], r["protocol"], r["mean_rating"])):
            ci = Interval(**row["accuracy_ci95"])
            trend.add_row(Text(row["judge"]), row["protocol"], Text(" vs ".join(row["debaters"])),
                          f"{row['mean_rating']:.0f}", str(row["games"]), _pct(row["accuracy"], ci))
        tables.append(trend)
    return [*tables, judges]


def print_run_result(result: RunResult) -> None:
    """What a finished run prints: its summary, split, metric, ratings and usage tables, then how it ended."""
    console = _console()
    console.print(summary_table(result.summary))
    for table in [*split_tables(result.summary), *metric_tables(result.summary)]:
        console.print(table)
    for table in ratings_tables(result.summary):
        console.print(table)
    console.print(usage_table(result.summary))
    console.print(Text(result.outcome()), soft_wrap=True)  # one line, however long the folder's path


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


def print_run(folder: RunFolder, games: int | None = SHOWN_GAMES) -> None:
    """The run's summary tables, then its first ``games`` games in log order (all of them for None)."""
    console = _console()
    manifest = folder.read_manifest()
    summary = folder.read_summary()
    console.print(Text(f"{folder.path} · {manifest.status} · started {manifest.started_at:%Y-%m-%d %H:%M:%S} UTC"))
    console.print(Text("roles: " + ", ".join(f"{r}={s}" for r, s in manifest.models.items())))
    if summary is not None:
        console.print(summary_table(summary))
        for table in [*split_tables(summary), *metric_tables(summary), *ratings_tables(summary)]:
            console.print(table)
    index = folder.index()
    listed = index.offsets[:games] if games is not None else index.offsets
    left = len(index.offsets) - len(listed)
    title = f"games (the first {len(listed):,} of {len(index.offsets):,})" if left else "games"
    table = Table(title=title, title_justify="left")
    table.add_column("game", no_wrap=True)
    for column in ("protocol", "item", "seating", "status", "verdict", "correct"):
        table.add_column(column)
    for record in folder.records_at(listed):
        seating = " ".join(f"{seat}:{choice_labels(len(record.choices))[c]}" for seat, c in record.seating.items())
        correct = "-" if record.correct is None else ("yes" if record.correct else "no")
        table.add_row(
            record.game_id, group_name(record), Text(record.item_id), seating, record.status, _verdict_text(record),
            correct,
        )
    if listed:
        console.print(table)
    if left:
        console.print(Text(f"{left:,} more games not listed (--games N lists N, --games all every game)"))


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
    verdict = Text("verdict: ")
    verdict.append_text(_verdict_text(record))
    if record.verdict and record.verdict.probabilities:
        probs = ", ".join(f"{lab} {p:.0%}" for lab, p in zip(labels, record.verdict.probabilities, strict=True))
        verdict.append(f"   probabilities: {probs} (from {record.verdict.source})")
    console.print(verdict)


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
    for turn in record.turns:
        style = SEAT_STYLES.get(turn.seat or "", "white")
        side = turn.meta.get("side")
        title = turn.role + (f" · seat {turn.seat}" if turn.seat else "") + (f" · round {turn.round}" if turn.round else "")
        title += f" · {side}" if side else ""
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
