"""``oversight report RUN``: one self-contained HTML file with a run's summary, ratings and transcripts.

The tables count every game; transcripts are given for a sample (500 by default, ``--games``), since a page
with 100,000 of them would take minutes to open.

Everything a model or a record wrote reaches the page through Jinja's autoescaping, never as markup; a
Content-Security-Policy that allows only the report's own script (by hash) and no external loads backs that up.
The template ships inside the package and cannot be overridden.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import re
import shlex
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from oversight.defaults import REPORT_GAMES
from oversight import plots
from oversight.display import (
    headlines, in_display_order, metric_sections, probability_label, protocol_class, seat_name,
    stated_beside_logprobs,
)
from oversight.ratings import GameResult, Ratings, game_result, player_of, ratings
from oversight.records import GameRecord, Turn
from oversight.runfolder import RunFolder, write_whole
from oversight.scoring import SummaryTally
from oversight.transcript_index import LogIndex
from oversight.verdicts import choice_labels
from oversight.views import cell, to_json

TEMPLATE = Path(__file__).with_name("report_template.html.j2")
_MARK = re.compile(r"<quote (verified|unverified)>(.*?)</quote>", re.DOTALL)
#: turn meta the transcript already shows (as text, colours and marks); the rest is shown as JSON
_SHOWN_META = {"kind", "speaker", "side", "defends", "shown", "quotes"}


@dataclass
class Segment:
    text: str
    #: "text", "verified" or "unverified"
    kind: str = "text"
    note: str = ""


def _segments(turn: Turn) -> list[Segment]:
    """The turn as its judge saw it, split at the quote marks; a mark counts as verified only if the quote
    checker's record of that quote says so."""
    if "shown" not in turn.meta:  # marks exist only where the engine checked quotes
        return [Segment(turn.content)]
    checks: dict[str, list[dict[str, Any]]] = {}
    for check in turn.meta.get("quotes", []):
        # a mark holds what the judge saw: the passage's words when verified (older records: the speaker's text)
        checks.setdefault(str(check.get("shown", check.get("text", ""))).strip(), []).append(check)
    text = str(turn.meta["shown"])
    segments: list[Segment] = []
    end = 0
    for match in _MARK.finditer(text):
        if match.start() > end:
            segments.append(Segment(text[end : match.start()]))
        quote = match.group(2)
        pending = checks.get(quote.strip(), [])
        check = pending.pop(0) if pending else None
        if check is None:
            segments.append(Segment(quote, "unverified"))
        else:
            kind = "verified" if check.get("verified") else "unverified"
            score = f" · score {check['score']:.0f}" if isinstance(check.get("score"), float) else ""
            segments.append(Segment(quote, kind, f"{kind} · match {check.get('match')}{score}"))
        end = match.end()
    if end < len(text):
        segments.append(Segment(text[end:]))
    return segments


def _correctness(record: GameRecord) -> str:
    if record.status == "failed":
        return "failed"
    return "none" if record.correct is None else ("correct" if record.correct else "incorrect")


def _label(labels: list[str], index: Any) -> str | None:
    return labels[index] if isinstance(index, int) and 0 <= index < len(labels) else None


def game_view(record: GameRecord, player_index: dict[str, int]) -> dict[str, Any]:
    """One game as the report template's ``game`` macro shows it; ``player_index`` numbers the tournament's players."""
    labels = choice_labels(len(record.choices))
    seats_for: dict[int, list[str]] = {}
    for seat, choice in record.seating.items():
        seats_for.setdefault(choice, []).append(seat)
    turns = []
    for turn in record.turns:
        extra = {k: v for k, v in turn.meta.items() if k not in _SHOWN_META}
        turns.append(
            {
                "turn": turn,
                # a seat by its protocol's name for it: the stored speaker ("Debater A") reads like an answer
                "speaker": (
                    seat_name(record.protocol, turn.seat) if turn.seat else turn.meta.get("speaker") or turn.role
                ),
                "player": player_of(record, turn.role),
                "side": turn.meta.get("side"),
                "kind": turn.meta.get("kind"),
                "defends": _label(labels, turn.meta.get("defends")),
                "segments": _segments(turn),
                "extra": to_json(extra) if extra else None,
            }
        )
    verdict = record.verdict
    view = protocol_class(record.protocol).report_view(record)
    meta = {k: v for k, v in record.meta.items() if view is None or k not in view.shown_meta}
    return {
        "record": record,
        "correctness": _correctness(record),
        # indices into the report's player list, for the player filter
        "player_ids": " ".join(sorted({str(player_index[player_of(record, role)]) for role in record.roles})),
        "choices": [
            {"label": label, "text": text, "answer": i == record.answer, "seats": seats_for.get(i, [])}
            for i, (label, text) in enumerate(zip(labels, record.choices, strict=True))
        ],
        "turns": turns,
        "seat_names": {seat: seat_name(record.protocol, seat) for seat in record.seating},
        "verdict_label": _label(labels, verdict.choice) if verdict else None,
        "probabilities": list(zip(labels, verdict.probabilities or [], strict=False)) if verdict else [],
        "probability_label": probability_label(verdict.source) if verdict else "",
        "stated": stated_beside_logprobs(verdict) if verdict else None,
        # the judge's reply is a turn in the debate family; elsewhere the verdict block shows it
        "show_raw": bool(verdict and verdict.raw) and not any(t.meta.get("kind") == "verdict" for t in record.turns),
        "view": view,
        "meta": to_json(meta) if meta else None,
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _csp_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()


def template_environment() -> jinja2.Environment:
    """The Jinja environment the report's template renders in: autoescaped, with the report's filters."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(
        cell=cell, pct=_pct, csp_hash=_csp_hash, json=to_json, json_line=lambda value: to_json(value, indent=None)
    )
    return env


def _quotas(counts: dict[str, int], total: int) -> dict[str, int]:
    """``total`` games shared out over protocols: equal shares, and what a small protocol cannot fill goes to the
    others."""
    quotas: dict[str, int] = {}
    left = total
    by_size = sorted(counts, key=lambda name: (counts[name], name))
    for position, name in enumerate(by_size):
        quotas[name] = min(counts[name], left // (len(by_size) - position))
        left -= quotas[name]
    return quotas


def _sample(index: LogIndex, games: int | None) -> dict[str, list[int]]:
    """Protocol → offsets of the games the page gives transcripts of: all of them, or ``games`` spread over the
    protocols, each protocol's share being its games whose ids hash lowest — a fixed choice, and one that a run
    resumed with more games mostly keeps."""
    chosen: dict[str, list[int]] = {}
    counts = Counter(index.protocols)
    for name, quota in _quotas(counts, len(index.offsets) if games is None else games).items():
        lines = (
            (hashlib.sha256(game.encode()).digest(), offset)
            for game, protocol, offset in zip(index.games, index.protocols, index.offsets, strict=True)
            if protocol == name
        )
        chosen[name] = sorted(offset for _, offset in heapq.nsmallest(quota, lines))
    return chosen


def render_report(folder: RunFolder, games: int | None = REPORT_GAMES, plots_dir: Path | None = None) -> Iterator[str]:
    """The page, piece by piece: tables and plots over every game of the run, transcripts of ``games`` of them
    (all: None); with ``plots_dir``, each plot is also written there as SVG and PNG.

    The log is read in one pass for the ratings and the calibration plot (and the summary, when the run wrote
    none), keeping compact results only; the transcripts are then read one at a time through the log's index."""
    manifest = folder.read_manifest()
    summary = folder.read_summary()
    tally = SummaryTally()
    reliability = plots.ReliabilityTally()
    # a tournament's summary holds its ratings already: the bootstrap is not fitted again
    stored = summary.ratings if summary is not None else None
    results: list[GameResult] = []
    players: set[str] = set()
    for record in folder.iter_records():
        if stored is None:
            results.append(game_result(record))
        reliability.add(record)
        players.update(player_of(record, role) for role in record.roles)
        if summary is None:
            tally.add(record)
    if summary is None:
        summary = tally.summary(manifest.run_id)
    rated = Ratings.model_validate(stored) if stored is not None else ratings(results)
    rating_plot = plots.accuracy_vs_rating(rated.accuracy_vs_rating)
    drawn = [plots.accuracy_by_protocol(summary), plots.reliability_diagram(reliability)]
    run_plots = [p for p in drawn if p is not None] + plots.protocol_plots(
        [(name, spec) for name, figures in summary.metrics.items() for spec in protocol_class(name).plots(figures)]
    )
    if plots_dir is not None:
        plots.write_plots([*run_plots, *([rating_plot] if rating_plot else [])], plots_dir)
    names = sorted(players)
    player_index = {name: i for i, name in enumerate(names)}
    index = folder.index()
    sample = _sample(index, games)
    offsets = sorted(offset for chosen in sample.values() for offset in chosen)
    template = template_environment().from_string(TEMPLATE.read_text(encoding="utf-8"))
    return template.generate(
        manifest=manifest,
        command=shlex.join(manifest.command),
        summary=summary,
        headlines=headlines(summary),
        metric_sections=metric_sections(summary),
        ratings=rated if rated.players else None,
        judges=rated.judges,
        plot=rating_plot,
        plots=run_plots,
        games=(game_view(r, player_index) for r in folder.records_at(offsets)),
        shown=len(offsets),
        total=len(index.offsets),
        protocols=[(name, len(sample[name])) for name in in_display_order(sample) if sample[name]],
        players=names,
    )


def write_report(run_dir: Path, out: Path | None = None, games: int | None = REPORT_GAMES) -> Path:
    """Write RUN's report (default ``RUN/report.html``) and return its path; see :func:`render_report`."""
    folder = RunFolder.open_existing(run_dir)
    target = out or folder.path / "report.html"
    # moved into place whole, so a log that turns out unreadable leaves no half page
    write_whole(target, lambda handle: handle.writelines(render_report(folder, games, folder.path / "plots")), "report")
    return target
