"""Plots of a run, drawn with matplotlib: inline SVG on the report's page, SVG and PNG files in ``RUN/plots/``.

The engine draws what every run can have: judge accuracy by protocol (the summary's per-protocol figures, one bar
each, never pooled), a reliability diagram per protocol (the probability each judge gave the answer it chose,
binned as the expected calibration error bins it, against how often that answer was right) and judge accuracy
against debater rating. A protocol adds plots of its own figures through
:meth:`~oversight.protocol.Protocol.plots`, as :class:`PlotSpec` data that the engine draws: protocols never touch
matplotlib, and every plot looks alike.

Text from models and users (player, judge and protocol names, labels) is drawn as glyph outlines, never read as
markup or mathtext; the page's SVG drops the comments in which matplotlib repeats each text (escaped), and its ids
are prefixed with the plot's key so that several plots share one page. matplotlib is imported only when something
is drawn, through the Agg canvas, which needs no display: importing the engine stays quick.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from markupsafe import Markup, escape

from oversight.calibration import bin_of, binned_calibration_error
from oversight.records import GameRecord, Interval, RunSummary
from oversight.runfolder import write_whole
from oversight.scoring import wilson_interval

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: the engine's own plots; a protocol's keys must differ from these
ACCURACY_KEY = "judge-accuracy-by-protocol"
RELIABILITY_KEY = "reliability"
RATING_KEY = "accuracy-vs-rating"
ENGINE_KEYS = frozenset({ACCURACY_KEY, RELIABILITY_KEY, RATING_KEY})
#: a key names files and a page element: lower-case words joined by hyphens
_KEY = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
#: Okabe–Ito: distinguishable with the common kinds of colour blindness
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
#: labels longer than this are shortened on the plot (the tables beside it give them whole)
LABEL_CHARS = 40
PNG_DPI = 150
_STYLE: dict[str, Any] = {
    "font.size": 9.5,
    "axes.titlesize": 11,
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#e6e6e6",
    "legend.frameon": False,
    # a name with dollar signs is a name, not a formula (and an unbalanced one would stop the report)
    "text.parse_math": False,
    "svg.fonttype": "path",
}


@dataclass(frozen=True)
class Series:
    """One set of points or bars: a value per x, each with an optional 95% interval and count."""

    label: str
    #: categories (text) or positions (numbers)
    x: Sequence[str | float]
    #: values at each x; None leaves a gap
    y: Sequence[float | None]
    #: (low, high) 95% interval per point, None where there is none
    intervals: Sequence[tuple[float, float] | None] | None = None
    #: how many games (or nodes, …) each point rests on, written on bars
    counts: Sequence[int] | None = None

    def __post_init__(self) -> None:
        lengths = {len(self.x), len(self.y)} | {len(v) for v in (self.intervals, self.counts) if v is not None}
        if len(lengths) > 1:
            raise ValueError(f"series {self.label!r}: x, y, intervals and counts differ in length")


@dataclass(frozen=True)
class PlotSpec:
    """A plot as data, as a protocol's :meth:`~oversight.protocol.Protocol.plots` gives it; the engine draws it.

    Values are shares (0–1), drawn as percentages."""

    #: the files ``plots/<key>.svg`` and ``.png`` and the page element ``plot-<key>``; specs of several protocols
    #: with one key are drawn as one plot, each protocol's series labelled with its name
    key: str
    title: str
    x_label: str
    y_label: str
    series: Sequence[Series]
    #: ``bars``: grouped bars over categories; ``lines``: points with their intervals, joined in x order
    kind: Literal["bars", "lines"] = "bars"
    #: the caption under the plot: what each point is and how to read it
    note: str = ""

    def __post_init__(self) -> None:
        if not _KEY.fullmatch(self.key) or self.key in ENGINE_KEYS:
            raise ValueError(f"plot key {self.key!r}: use lower-case words joined by hyphens, not an engine plot's")


@dataclass
class Plot:
    """A drawn plot: its figure, and what the page and the run folder's ``plots/`` get of it."""

    key: str
    title: str
    note: str
    figure: Figure

    @cached_property
    def svg(self) -> str:
        """The plot as a standalone SVG file."""
        return _save(self.figure, self.key, "svg").decode("utf-8")

    @cached_property
    def inline_svg(self) -> Markup:
        """The SVG for an HTML page: no XML prolog or comments (matplotlib repeats each text there), ids unique to
        this plot, and the title as its accessible name."""
        svg = re.sub(r"<!--.*?-->", "", self.svg[self.svg.index("<svg") :], flags=re.DOTALL)
        svg = re.sub(r'\bid="([^"]+)"', rf'id="{self.key}-\1"', svg)
        svg = re.sub(r'(href="#|url\(#)', rf"\g<1>{self.key}-", svg)
        opening = svg.index(">") + 1
        label = escape(self.title)
        return Markup(f'{svg[: opening - 1]} role="img" aria-label="{label}"><title>{label}</title>{svg[opening:]}')

    def png(self) -> bytes:
        """The plot as a PNG file."""
        return _save(self.figure, self.key, "png")


def _save(figure: Figure, key: str, form: str) -> bytes:
    import matplotlib

    buffer = io.BytesIO()
    # the salt fixes the ids matplotlib derives by hashing, so a plot's SVG is the same every time
    with matplotlib.rc_context({**_STYLE, "svg.hashsalt": key}):
        metadata = {"Date": None} if form == "svg" else {"Software": None}
        figure.savefig(buffer, format=form, dpi=PNG_DPI, metadata=metadata)
    return buffer.getvalue()


def write_plots(plots: Iterable[Plot], folder: Path) -> None:
    """Write each plot to ``folder`` as ``<key>.svg`` and ``<key>.png``, each file moved into place whole."""
    for plot in plots:
        for suffix, data in ((".svg", plot.svg.encode("utf-8")), (".png", plot.png())):
            write_whole(folder / f"{plot.key}{suffix}", lambda handle, data=data: handle.write(data), "plot", binary=True)


# drawing ------------------------------------------------------------------------------------------------------


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _percent_axis(ax: Axes, axis: Literal["x", "y"], top: float = 1.0) -> None:
    """0–100% with room for markers at the ends and for labels above ``1`` up to ``top``."""
    from matplotlib.ticker import PercentFormatter

    target = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xlim if axis == "x" else ax.set_ylim)(-0.03, top + 0.03)
    target.set_ticks([0, 0.25, 0.5, 0.75, 1.0])
    target.set_major_formatter(PercentFormatter(1.0, decimals=0))


def _errors(values: Sequence[float], intervals: Sequence[tuple[float, float] | None]) -> list[list[float]]:
    """matplotlib's [[below…], [above…]] from intervals; a missing interval is no bar."""
    below = [max(v - ci[0], 0.0) if ci else 0.0 for v, ci in zip(values, intervals, strict=True)]
    above = [max(ci[1] - v, 0.0) if ci else 0.0 for v, ci in zip(values, intervals, strict=True)]
    return [below, above]


def _legend(figure: Figure, ax: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if len(handles) > 1:
        figure.legend(handles, labels, loc="outside right upper")


def _tick(text: str) -> str:
    """A category's name as a tick label: shortened, and wrapped onto lines of a bar's width."""
    return "\n".join(textwrap.wrap(_short(text), 16)) or text


def _title(ax: Axes, title: str) -> None:
    ax.set_title("\n".join(textwrap.wrap(title, 70)))


def accuracy_by_protocol(summary: RunSummary) -> Plot | None:
    """Judge accuracy of each protocol (each kind of game) with its 95% interval; None when nothing was judged."""
    rows = [(name, p) for name, p in summary.by_protocol.items() if p.accuracy is not None and p.judged]
    if not rows:
        return None
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        figure = _figure(7.5, 1.3 + 0.42 * len(rows))
        ax = figure.add_subplot()
        ax.grid(axis="y", visible=False)
        positions = list(range(len(rows)))[::-1]  # the summary's first protocol at the top
        values = [p.accuracy or 0.0 for _, p in rows]
        intervals = [(p.accuracy_ci95.low, p.accuracy_ci95.high) if p.accuracy_ci95 else None for _, p in rows]
        ax.barh(positions, values, height=0.6, color=PALETTE[0], xerr=_errors(values, intervals),
                error_kw={"ecolor": "#333", "capsize": 3, "elinewidth": 1})  # fmt: skip
        for y, value, ci, (_, p) in zip(positions, values, intervals, rows, strict=True):
            ax.text((ci[1] if ci else value) + 0.015, y, f"{value:.0%}  ({p.correct} of {p.judged})", va="center")
        ax.set_yticks(positions, [_short(name) for name, _ in rows])
        _percent_axis(ax, "x", top=1.22)  # room for the labels right of a 100% bar
        ax.set_xlabel("judge accuracy (whiskers: 95% Wilson intervals)")
        _title(ax, "Judge accuracy by protocol")
    note = (
        "Share of judged games in which the judge chose the correct answer, per protocol (and per kind of game "
        "where a protocol plays several), with 95% Wilson intervals; protocols are never pooled."
    )
    return Plot(ACCURACY_KEY, "Judge accuracy by protocol", note, figure)


@dataclass
class _Bin:
    verdicts: int = 0
    confidence: float = 0.0
    correct: int = 0


@dataclass
class ReliabilityTally:
    """The probability judges gave the answers they chose against whether those answers were right, by protocol,
    counted game by game into equal-width bins (the bins of
    :func:`~oversight.calibration.expected_calibration_error`); no game is kept."""

    bins: int = 10
    by_protocol: dict[str, list[_Bin]] = field(default_factory=dict)

    def add(self, record: GameRecord) -> None:
        """Count one game in, if it is complete, scored, and its verdict chose an answer with probabilities."""
        verdict = record.verdict
        if record.status != "complete" or record.correct is None or verdict is None or verdict.choice is None:
            return
        if not verdict.probabilities or verdict.choice >= len(verdict.probabilities):
            return
        confidence = verdict.probabilities[verdict.choice]
        cells = self.by_protocol.setdefault(record.protocol, [_Bin() for _ in range(self.bins)])
        cell = cells[bin_of(confidence, self.bins)]
        cell.verdicts += 1
        cell.confidence += confidence
        cell.correct += bool(record.correct)

    def calibration_error(self, protocol: str) -> float:
        """The protocol's expected calibration error: mean |accuracy − confidence| over bins, weighted by size."""
        error = binned_calibration_error((c.verdicts, c.confidence, c.correct) for c in self.by_protocol[protocol])
        return error or 0.0


def reliability_diagram(tally: ReliabilityTally) -> Plot | None:
    """A reliability diagram per protocol whose verdicts carried probabilities; None when none did."""
    protocols = sorted(tally.by_protocol)
    if not protocols:
        return None
    import matplotlib

    columns = min(len(protocols), 4)
    rows = math.ceil(len(protocols) / columns)
    with matplotlib.rc_context(_STYLE):
        # the legend sits beside the title when a row of panels leaves it room, else right of the panels
        wide = columns >= 3
        figure = _figure(0.8 + 2.6 * columns + (0.0 if wide else 2.6), 1.0 + 2.4 * rows)
        axes = figure.subplots(rows, columns, squeeze=False)
        for ax, protocol in zip(axes.flat, protocols, strict=False):
            _reliability_panel(ax, protocol, tally)
        for ax in axes.flat[len(protocols) :]:
            ax.set_visible(False)
        figure.supxlabel("judge's probability for its chosen answer", fontsize=9.5)
        figure.supylabel("share of those answers correct", fontsize=9.5)
        handles, labels = axes.flat[0].get_legend_handles_labels()
        place = "outside upper right" if wide else "outside right upper"
        figure.legend(handles, labels, loc=place, ncols=3 if wide else 1)
        figure.suptitle("Judge calibration by protocol", x=0.01, ha="left", fontsize=11)
    note = (
        "Each point is one bin of verdicts by the probability the judge gave the answer it chose: how often that "
        "answer was right (95% Wilson intervals) against the probability it was given. A calibrated judge lies on "
        "the diagonal; points below it are overconfident. Grey bars: the share of the protocol's verdicts in each "
        "bin. ECE: expected calibration error over these bins."
    )
    return Plot(RELIABILITY_KEY, "Judge calibration by protocol", note, figure)


def _reliability_panel(ax: Axes, protocol: str, tally: ReliabilityTally) -> None:
    cells = tally.by_protocol[protocol]
    total = sum(c.verdicts for c in cells)
    width = 1 / tally.bins
    centres = [(i + 0.5) * width for i in range(tally.bins)]
    ax.bar(centres, [c.verdicts / total for c in cells], width=width * 0.9, color="#d9d9d9",
           label="share of verdicts in the bin")  # fmt: skip
    ax.plot([0, 1], [0, 1], linestyle="--", color="#888888", linewidth=1, label="perfect calibration")
    used = [c for c in cells if c.verdicts]
    confidences = [c.confidence / c.verdicts for c in used]
    accuracies = [c.correct / c.verdicts for c in used]
    intervals = [_interval(c.correct, c.verdicts) for c in used]
    ax.errorbar(confidences, accuracies, yerr=_errors(accuracies, intervals), marker="o", markersize=5,
                color=PALETTE[0], ecolor=PALETTE[0], elinewidth=1, capsize=2, clip_on=False,
                label="observed accuracy")  # fmt: skip
    _percent_axis(ax, "x")
    _percent_axis(ax, "y")
    ax.set_aspect("equal")
    error = tally.calibration_error(protocol)
    ax.set_title(f"{_short(protocol, 30)}\nECE {error:.2f} · {total} verdicts", fontsize=9.5)


def _interval(successes: int, trials: int) -> tuple[float, float] | None:
    ci = wilson_interval(successes, trials)
    return (ci.low, ci.high) if ci else None


class _RatedGames(Protocol):
    """What the rating plot reads of a row of :func:`oversight.ratings.accuracy_vs_rating` (named by its fields:
    the ratings module imports the protocols, which name this module's plot specs)."""

    @property
    def protocol(self) -> str: ...
    @property
    def judge(self) -> str: ...
    @property
    def self_play(self) -> bool: ...
    @property
    def mean_rating(self) -> float: ...
    @property
    def accuracy(self) -> float: ...
    @property
    def accuracy_ci95(self) -> Interval: ...


def accuracy_vs_rating(rows: Sequence[_RatedGames]) -> Plot | None:
    """Judge accuracy (95% intervals) against the debaters' mean rating, a colour per protocol and judge;
    self-play points filled, cross-play hollow. None without rows."""
    if not rows:
        return None
    import matplotlib
    from matplotlib.lines import Line2D

    series = sorted({(r.protocol, r.judge) for r in rows})
    ratings = [r.mean_rating for r in rows]
    pad = max((max(ratings) - min(ratings)) * 0.08, 25.0)
    with matplotlib.rc_context(_STYLE):
        figure = _figure(8.0, 4.6 + 0.2 * len(series))
        ax = figure.add_subplot()
        for i, (protocol, judge) in enumerate(series):
            colour = PALETTE[i % len(PALETTE)]
            # series side by side, a hair apart, so intervals at one rating do not hide each other
            dodge = (i - (len(series) - 1) / 2) * (max(ratings) - min(ratings) + 2 * pad) * 0.012
            mine = [r for r in rows if (r.protocol, r.judge) == (protocol, judge)]
            for filled in (True, False):
                points = [r for r in mine if r.self_play == filled]
                if not points:
                    continue
                values = [r.accuracy for r in points]
                ax.errorbar([r.mean_rating + dodge for r in points], values,
                            yerr=_errors(values, [(r.accuracy_ci95.low, r.accuracy_ci95.high) for r in points]),
                            linestyle="none", marker="o", markersize=7, markeredgewidth=1.5, color=colour,
                            markerfacecolor=colour if filled else "white", elinewidth=1, capsize=3,
                            clip_on=False)  # fmt: skip
        handles = [Line2D([], [], marker="o", linestyle="none", color=PALETTE[i % len(PALETTE)],
                          label=f"{_short(protocol, 24)} · judge {_short(judge, 28)}")
                   for i, (protocol, judge) in enumerate(series)]  # fmt: skip
        handles += [
            Line2D([], [], marker="o", linestyle="none", color="#555555", markerfacecolor=face, label=label)
            for face, label, shown in (("#555555", "self-play", True), ("white", "cross-play", False))
            if any(r.self_play == shown for r in rows)
        ]
        # below the plot, where long player and judge names take no width from it
        figure.legend(handles=handles, loc="outside lower center")
        ax.set_xlim(min(ratings) - pad, max(ratings) + pad)
        _percent_axis(ax, "y")
        ax.set_xlabel("mean rating of the game's debaters (Elo scale)")
        ax.set_ylabel("judge accuracy")
        _title(ax, "Judge accuracy vs debater rating")
    note = (
        "Judge accuracy in the games each set of debaters played, against their mean rating, with 95% Wilson "
        "intervals. Filled: self-play (one debater in every seat); hollow: cross-play pairs."
    )
    return Plot(RATING_KEY, "Judge accuracy vs debater rating", note, figure)


# protocols' plots ---------------------------------------------------------------------------------------------


def protocol_plots(specs: Sequence[tuple[str, PlotSpec]]) -> list[Plot]:
    """Draw the plots protocols gave, as (protocol, spec): specs sharing a key become one plot whose series are
    labelled with their protocol's name; a key given by one protocol keeps its series' labels and names the
    protocol in its title."""
    by_key: dict[str, list[tuple[str, PlotSpec]]] = defaultdict(list)
    for protocol, spec in specs:
        by_key[spec.key].append((protocol, spec))
    plots = []
    for key, given in by_key.items():
        first = given[0][1]
        if len(given) == 1:
            protocol, spec = given[0]
            title, series = f"{spec.title} · {protocol}", list(spec.series)
        else:
            title = first.title
            series = [
                Series(name if len(spec.series) == 1 else f"{name} · {s.label}", s.x, s.y, s.intervals, s.counts)
                for name, spec in given
                for s in spec.series
            ]
        if any(_points(s) for s in series):  # a plot with nothing to draw is left out
            plots.append(Plot(key, title, first.note, _draw(first, title, series)))
    return plots


def _draw(spec: PlotSpec, title: str, series: Sequence[Series]) -> Figure:
    import matplotlib

    xs = list(dict.fromkeys(x for s in series for x in s.x))
    numeric = spec.kind == "lines" and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    if numeric:
        xs = sorted(xs)
    legend_room = 2.0 if len(series) > 1 else 0.0
    width = max(5.5, min(10.0, 2.0 + legend_room + len(xs) * (0.5 + 0.45 * len(series))))
    with matplotlib.rc_context(_STYLE):
        figure = _figure(width, 3.6)
        ax = figure.add_subplot()
        if spec.kind == "bars":
            _bars(ax, xs, series)
        else:
            _lines(ax, xs, series, numeric)
        ax.set_xlabel(spec.x_label)
        ax.set_ylabel(spec.y_label)
        _title(ax, title)
        _legend(figure, ax)
    return figure


def _points(s: Series) -> list[tuple[str | float, float, tuple[float, float] | None, int | None]]:
    """The series' points that have a value: (x, y, interval, count)."""
    intervals = s.intervals or [None] * len(s.x)
    counts = s.counts or [None] * len(s.x)
    return [
        (x, y, ci, n) for x, y, ci, n in zip(s.x, s.y, intervals, counts, strict=True) if y is not None
    ]


def _bars(ax: Axes, xs: list[Any], series: Sequence[Series]) -> None:
    ax.grid(axis="x", visible=False)
    # each category's bars side by side around its tick, leaving no gap for a series without a value there
    present: dict[Any, list[int]] = defaultdict(list)
    for j, s in enumerate(series):
        for x, *_ in _points(s):
            present[x].append(j)
    width = 0.8 / max(len(bars) for bars in present.values())
    for j, s in enumerate(series):
        points = _points(s)
        positions = [
            xs.index(x) + (present[x].index(j) - (len(present[x]) - 1) / 2) * width for x, *_ in points
        ]
        values = [y for _, y, _, _ in points]
        intervals = [ci for _, _, ci, _ in points]
        ax.bar(positions, values, width=width * 0.92, color=PALETTE[j % len(PALETTE)], label=_short(s.label),
               yerr=_errors(values, intervals), error_kw={"ecolor": "#333", "capsize": 3, "elinewidth": 1})  # fmt: skip
        for position, (_, value, ci, n) in zip(positions, points, strict=True):
            text = f"{value:.0%}" if n is None else f"{value:.0%}\nn={n}"
            ax.text(position, (ci[1] if ci else value) + 0.02, text, ha="center", va="bottom", fontsize=8.5)
    ax.set_xticks(range(len(xs)), [_tick(str(x)) for x in xs])
    _percent_axis(ax, "y", top=1.2)  # room for the labels above a 100% bar


def _lines(ax: Axes, xs: list[Any], series: Sequence[Series], numeric: bool) -> None:
    def at(x: Any) -> float:
        return float(x) if numeric else float(xs.index(x))

    spots = sorted({at(x) for x in xs})
    spacing = min((b - a for a, b in zip(spots, spots[1:], strict=False)), default=1.0)
    for j, s in enumerate(series):
        points = _points(s)
        # series side by side at each x, so their intervals do not hide each other
        offset = (j - (len(series) - 1) / 2) * spacing * 0.06
        values = [y for _, y, _, _ in points]
        ax.errorbar([at(x) + offset for x, *_ in points], values, yerr=_errors(values, [p[2] for p in points]),
                    marker="o", markersize=6, color=PALETTE[j % len(PALETTE)], elinewidth=1, capsize=3,
                    clip_on=False, label=_short(s.label))  # fmt: skip
    if numeric and all(float(x).is_integer() for x in xs):
        ax.set_xticks(spots, [f"{x:.0f}" for x in spots])
    elif not numeric:
        ax.set_xticks(spots, [_tick(str(x)) for x in xs])
    ax.set_xlim(spots[0] - spacing / 2, spots[-1] + spacing / 2)
    _percent_axis(ax, "y")
