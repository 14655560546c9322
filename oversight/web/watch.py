"""Watching run folders in the browser: the runs under the served folders, a run's progress while it plays, its
tables and plots, and any game's transcript — the report's own views (the macros of
``oversight/report_template.html.j2`` and :mod:`oversight.report`'s view of a game), served as pages.

``watch_routes`` gives the routes, relative to where the app mounts them (``/runs``):

- ``/``: every run folder found, from ``run.json``, ``summary.json``, ``index.json``, the lock and file times only —
  a finished run's log is never read to list it;
- ``/{run}/``: the run's progress (reloaded every few seconds while it plays), summary, per-protocol tables, plots
  and its games a page at a time, each linking to its transcript;
- ``/{run}/plots/{key}.svg``: a plot of that page, as an SVG image;
- ``/{run}/games/{game}``: one game as the report shows it;
- ``/report.css``: the report's styles for its views, so the pages share them rather than copy them.

A run's log is followed as it grows: each request reads only the whole lines appended since the previous one, from
the byte offset reached (:class:`LogFollower`). A run in the address is looked up by name among the run folders
found under the roots, never joined to a path, and a folder or file that resolves outside the roots (a symlink) is
not served. Every string from a record reaches the page through Jinja's autoescaping; plots are images, since the
app's Content-Security-Policy allows no inline styles, which matplotlib's SVG is made of.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from oversight import plots
from oversight.defaults import SHOWN_GAMES
from oversight.display import headlines, in_display_order, metric_sections, protocol_class, seating_text
from oversight.errors import UserError, first_error, unreadable_record
from oversight.plots import Plot
from oversight.ratings import Ratings, player_of
from oversight.records import SCHEMA_VERSION, GameRecord, RunManifest, RunSummary
from oversight.report import TEMPLATE, game_view, template_environment
from oversight.runfolder import MANIFEST, SUMMARY, TRANSCRIPTS, RunFolder, read_at
from oversight.runlock import LOCK, LockHolder
from oversight.scoring import SummaryTally, group_name
from oversight.transcript_index import INDEX, LogIndex

TEMPLATES = Path(__file__).with_name("templates")
#: the name the watch templates import the report's macros under
REPORT = "report_template.html.j2"
#: seconds between reloads of a run's page while it plays
REFRESH_SECONDS = 5
#: the latest finished games a playing run's progress links to
LATEST_GAMES = 5
#: the files of a run folder these pages read: a folder any of them leads out of the served folders is not served
_READ = (MANIFEST, TRANSCRIPTS, SUMMARY, INDEX, LOCK)
#: matplotlib's style settings are process-wide, and requests are served in threads: one drawing at a time
_DRAWING = threading.Lock()


class LogFollower:
    """A run's transcript log as read so far, counted as the report counts it: the summary, the calibration of
    verdicts, and where each game's line starts.

    :meth:`catch_up` reads only the whole lines appended since its last call, from the byte offset it reached; a
    line still being written is left for the next call. A log replaced by another file (a resume that drops failed
    games rewrites it) or cut shorter is read again from its start."""

    def __init__(self, log: Path) -> None:
        self.log = log
        #: held while the log is read or what was read is used: requests are served in threads
        self.lock = threading.Lock()
        #: counts every change to what was read, so drawings of it can be reused until it changes
        self.version = 0
        #: whether the log was looked at before: what the first look reads is not growth
        self._looked = False
        self._restart(None)

    def _restart(self, inode: int | None) -> None:
        self.inode = inode
        #: where the next unread line starts; every whole line before it is counted
        self.offset = 0
        #: each counted line's game id and starting byte, in log order
        self.games: list[str] = []
        self.offsets: list[int] = []
        #: game id → where its latest line starts (a log not yet resumed may hold a failed try before it)
        self.latest: dict[str, int] = {}
        self.protocols: frozenset[str] = frozenset()
        self.tally = SummaryTally()
        self.reliability = plots.ReliabilityTally()
        self.finished: datetime | None = None
        #: why reading stopped before the end: a whole line that is not a game record
        self.damaged: str | None = None
        self.version += 1

    def catch_up(self) -> bool:
        """Read and count the whole lines appended since the last call; whether the log changed since then (grew,
        or was replaced). Call with :attr:`lock` held."""
        looked, self._looked = self._looked, True
        try:
            stat = self.log.stat()
        except FileNotFoundError:
            if self.inode is None and not self.offset:
                return False
            self._restart(None)
            return looked
        replaced = stat.st_ino != self.inode or stat.st_size < self.offset
        if replaced:
            self._restart(stat.st_ino)
        if stat.st_size == self.offset:
            return looked and replaced
        start = self.offset
        self.damaged = None
        with open(self.log, "rb") as handle:
            handle.seek(self.offset)
            for raw in handle:
                if not raw.endswith(b"\n"):  # being written: whole on a later call
                    break
                if raw.strip():
                    try:
                        record = GameRecord.model_validate_json(raw)
                    except ValidationError as exc:
                        # as `show` and `report` do, reading stops at a damaged line, and the page says how to repair
                        where = f"{TRANSCRIPTS}: byte {self.offset}"
                        self.damaged = str(unreadable_record(where, self.log.parent, first_error(exc, quoted=True)))
                        break
                    self._count(record)
                self.offset += len(raw)
        if self.offset != start:
            self.version += 1
        return looked and (replaced or self.offset != start)

    def _count(self, record: GameRecord) -> None:
        self.games.append(record.game_id)
        self.offsets.append(self.offset)
        self.latest[record.game_id] = self.offset
        if record.protocol not in self.protocols:  # replaced, not changed: the list of runs reads it unlocked
            self.protocols = self.protocols | {record.protocol}
        self.tally.add(record)
        self.reliability.add(record)
        self.finished = max(self.finished or record.finished_at, record.finished_at)

    def summary(self, run_id: str, planned: int | None) -> RunSummary:
        """The summary of the games read so far, as the report makes one for a run without ``summary.json``: counts
        and accuracies, no protocol metrics (a run computes those when it stops)."""
        # the tally keeps counting into the objects it returns: the page gets a copy
        return self.tally.summary(run_id, planned).model_copy(deep=True)

    def read(self, offsets: Sequence[int]) -> list[GameRecord]:
        """The records whose lines start at these offsets; UserError when the log was replaced since they were
        read (the caller catches up and asks again)."""
        return list(read_at(self.log, offsets))


@dataclass(frozen=True)
class RunState:
    """How a run stands: ``playing``, ``complete`` or ``incomplete``, and what that rests on."""

    word: str
    detail: str

    @property
    def playing(self) -> bool:
        """Whether a process is playing into the run now."""
        return self.word == "playing"


@dataclass(frozen=True)
class RunRow:
    """One line of the list of runs."""

    name: str
    protocols: list[str]
    #: games in the log (finished, failed or not), and games the run plans; None where the folder does not say
    done: int | None
    planned: int | None
    state: RunState
    modified: datetime


@dataclass
class _Drawn:
    """A run's plots as drawn for the state of its log and summary named by ``key``."""

    key: tuple[Any, ...]
    run_plots: list[Plot]
    rating_plot: Plot | None


def _state(folder: RunFolder, manifest: RunManifest, grew: bool) -> RunState:
    """Playing when a live process holds the folder's lock (one on another host is taken at its word: its pid cannot
    be checked from here), or when the log grew since the last look at a run that says it is running; else complete
    or incomplete, as ``run.json`` says."""
    holder = _holder(folder.path / LOCK)
    if holder is not None and holder.may_be_alive():
        return RunState("playing", f"held by {holder.describe()}")
    if grew and manifest.status == "running":
        return RunState("playing", "its log is growing")
    if manifest.status == "complete":
        return RunState("complete", "every game is complete")
    if manifest.status == "running":  # a process that died without a word (kill -9, a crash)
        return RunState("incomplete", "stopped: no process is playing it; rerun its command to resume")
    return RunState("incomplete", manifest.status + (f": {manifest.error}" if manifest.error else ""))


def _catch_up_if_free(follower: LogFollower) -> bool:
    """Catch the follower up unless another request is reading its log (a first look at a long one takes seconds):
    the list of runs then shows what was read so far rather than wait. Whether the log changed."""
    if not follower.lock.acquire(blocking=False):
        return False
    try:
        return follower.catch_up()
    finally:
        follower.lock.release()


def _holder(lock: Path) -> LockHolder | None:
    """Who the lock file names: its holder while held (a released lock is emptied); None when it names no one."""
    try:
        return LockHolder.model_validate_json(lock.read_bytes())
    except (OSError, ValidationError):
        return None


def _mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _read_summary(folder: RunFolder) -> RunSummary | None:
    """``summary.json``, or None when there is none or it cannot be read (being replaced, from another version)."""
    try:
        return folder.read_summary()
    except (OSError, ValidationError, ValueError):
        return None


def _planned(manifest: RunManifest, summary: RunSummary | None) -> int | None:
    """Games the run plans, as it wrote when it last stopped (a playing run's manifest says nothing yet; a resumed
    run's earlier summary does)."""
    if manifest.games is not None:
        return manifest.games.planned
    return summary.games if summary is not None else None


def _page(request: Request, pages: int) -> int:
    try:
        asked = int(request.query_params.get("page", "1"))
    except ValueError:
        asked = 1
    return min(max(asked, 1), pages)


def _game_view(record: GameRecord) -> dict[str, Any]:
    """A game as the report's game macro takes it (its player numbers serve only the report's filter)."""
    players = sorted({player_of(record, role) for role in record.roles})
    return game_view(record, {player: number for number, player in enumerate(players)})


def _templates() -> jinja2.Environment:
    """The report's environment (its filters and autoescaping), finding the web app's templates and the report's."""

    def report(name: str) -> tuple[str, str, Any] | None:
        return (TEMPLATE.read_text(encoding="utf-8"), str(TEMPLATE), lambda: True) if name == REPORT else None

    return template_environment().overlay(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(TEMPLATES), jinja2.FunctionLoader(report)])
    )


class RunWatcher:
    """The run folders under the served roots, what has been read of each run's log, and the pages about them."""

    def __init__(self, roots: Sequence[Path]) -> None:
        self.roots = [root.resolve() for root in roots]
        self._env = _templates()
        self._css = str(self._env.get_template(REPORT).module.views_css())  # type: ignore[attr-defined]
        self._guard = threading.Lock()
        self._followers: dict[Path, LogFollower] = {}
        self._drawn: dict[Path, _Drawn] = {}
        #: index.json's count of lines and protocols, by run, with the file times it was read at
        self._indexed: dict[Path, tuple[tuple[int | None, ...], tuple[int, set[str]] | None]] = {}

    def routes(self) -> list[BaseRoute]:
        """The pages, relative to where they are mounted."""
        return [
            Route("/", self.list_runs, name="runs"),
            Route("/report.css", self.report_css, name="runs-report-css"),
            Route("/{run}/", self.run_page, name="run"),
            Route("/{run}/plots/{key}.svg", self.plot, name="run-plot"),
            Route("/{run}/games/{game}", self.game_page, name="run-game"),
        ]

    # finding runs ---------------------------------------------------------------------------------------------

    def runs(self) -> dict[str, Path]:
        """Name → folder of every run served: each root that is a run folder, else each folder directly in it
        (hidden ones aside) that is one. A folder that resolves outside the roots, or holds a file read here that
        does (a symlink), is left out; a name found under two roots gets the later root's number."""
        found: dict[str, Path] = {}
        for number, root in enumerate(self.roots, start=1):
            try:
                candidates = [root] if (root / MANIFEST).is_file() else sorted(root.iterdir())
            except OSError:
                continue
            for folder in candidates:
                real = folder.resolve()
                if folder.name.startswith(".") or real in found.values() or not self._served(real):
                    continue
                name = folder.name
                while name in found:
                    name = f"{name}~{number}"
                found[name] = real
        return found

    def _served(self, folder: Path) -> bool:
        inside = all(
            any((folder / name).resolve().is_relative_to(root) for root in self.roots) for name in ("", *_READ)
        )
        return inside and (folder / MANIFEST).is_file()

    def _find(self, request: Request) -> tuple[str, Path]:
        """The run the address names, among those served; 404 for any other name."""
        name = request.path_params["run"]
        path = self.runs().get(name)
        if path is None:
            raise HTTPException(404, "no such run")
        return name, path

    def _follower(self, path: Path) -> LogFollower:
        with self._guard:
            if path not in self._followers:
                self._followers[path] = LogFollower(path / TRANSCRIPTS)
            return self._followers[path]

    # the list of runs -----------------------------------------------------------------------------------------

    def list_runs(self, request: Request) -> HTMLResponse:
        """``/``: every run served, the latest modified first."""
        rows = sorted((self._row(name, path) for name, path in self.runs().items()),
                      key=lambda row: row.modified, reverse=True)  # fmt: skip
        return self._render("watch_runs.html", request, runs=rows, roots=self.roots)

    def _row(self, name: str, path: Path) -> RunRow:
        """A run's line, from small files: a log is read only while its run plays, and then only what it added."""
        folder = RunFolder(path)
        times = [t for t in map(_mtime_ns, (folder.manifest_path, folder.transcripts_path, folder.summary_path)) if t]
        modified = datetime.fromtimestamp(max(times, default=0) / 1e9, UTC)
        try:
            manifest = folder.read_manifest()
        except UserError:
            return RunRow(name, [], None, None, RunState("incomplete", f"{MANIFEST} cannot be read"), modified)
        summary = _read_summary(folder)
        follower = self._followers.get(path)
        # read before: catching up costs only what was added since
        grew = follower is not None and _catch_up_if_free(follower)
        state = _state(folder, manifest, grew)
        if follower is None and state.playing:
            follower = self._follower(path)
            _catch_up_if_free(follower)
        indexed = self._index_counts(folder) if follower is None and manifest.games is None else None
        if follower is not None:
            done: int | None = len(follower.offsets)
        elif manifest.games is not None:
            done = manifest.games.complete + manifest.games.failed
        else:
            done = indexed[0] if indexed else None
        protocols: Collection[str]
        if summary is not None:
            protocols = {group.partition("/")[0] for group in summary.by_protocol}
        else:
            protocols = follower.protocols if follower is not None else (indexed[1] if indexed else set())
        return RunRow(name, in_display_order(protocols), done, _planned(manifest, summary), state, modified)

    def _index_counts(self, folder: RunFolder) -> tuple[int, set[str]] | None:
        """The log's lines and protocols as ``index.json`` gives them, while it matches the log; kept until either
        file changes."""
        key = (_mtime_ns(folder.index_path), _mtime_ns(folder.transcripts_path))
        cached = self._indexed.get(folder.path)
        if cached is not None and cached[0] == key:
            return cached[1]
        counts = None
        try:
            index = LogIndex.model_validate_json(folder.index_path.read_bytes())
            if index.schema_version == SCHEMA_VERSION and index.matches(folder.transcripts_path):
                counts = (len(index.offsets), set(index.protocols))
        except (OSError, ValidationError):
            pass  # no index, or one being replaced: the row says nothing of the games
        self._indexed[folder.path] = (key, counts)
        return counts

    # a run ----------------------------------------------------------------------------------------------------

    def run_page(self, request: Request) -> HTMLResponse:
        """``/{run}/``: the run's progress, summary, tables and plots, and a page of its games."""
        name, path = self._find(request)
        folder = RunFolder(path)
        manifest = self._manifest(folder)
        follower = self._follower(path)
        with follower.lock:
            state = _state(folder, manifest, follower.catch_up())
            stored = _read_summary(folder)
            planned = _planned(manifest, stored)
            # summary.json holds every figure (protocol metrics too) once it is newer than the log
            summary_time = _mtime_ns(folder.summary_path)
            current = (
                stored is not None
                and not state.playing
                and (summary_time or 0) >= (_mtime_ns(folder.transcripts_path) or 0)
            )
            summary = stored if current and stored is not None else follower.summary(manifest.run_id, planned)
            drawn = self._draw(path, follower, summary, summary_time if current else None)
            pages = max(1, -(-len(follower.offsets) // SHOWN_GAMES))
            page = _page(request, pages)
            games = self._records(follower, slice((page - 1) * SHOWN_GAMES, page * SHOWN_GAMES))
            progress = {
                "done": len(follower.offsets),
                "failed": follower.tally.overall.failed,
                "finished": follower.finished,
                "latest": follower.games[-LATEST_GAMES:][::-1],
                "damaged": follower.damaged,
            }
        # ratings as the summary stores them (a tournament's), as `show` prints them: none are fitted per request
        rated = Ratings.model_validate(summary.ratings) if summary.ratings else None
        return self._render(
            "watch_run.html", request,
            name=name, manifest=manifest, command=shlex.join(manifest.command), state=state, planned=planned,
            refresh=REFRESH_SECONDS if state.playing else None, progress=progress, from_log=not current,
            summary=summary, headlines=headlines(summary), metric_sections=metric_sections(summary),
            plots=drawn.run_plots, rating_plot=drawn.rating_plot, ratings=rated if rated and rated.players else None,
            judges=rated.judges if rated else [], page=page, pages=pages, first=(page - 1) * SHOWN_GAMES + 1,
            games=[(_game_view(record), group_name(record), seating_text(record)) for record in games],
        )  # fmt: skip

    @staticmethod
    def _manifest(folder: RunFolder) -> RunManifest:
        try:
            return folder.read_manifest()
        except UserError:
            raise HTTPException(503, f"{MANIFEST} cannot be read") from None

    def _records(self, follower: LogFollower, lines: slice) -> list[GameRecord]:
        """The records of these lines of the log as read so far (its lock held); if the log was replaced since,
        read again after catching up."""
        try:
            return follower.read(follower.offsets[lines])
        except (UserError, OSError):
            follower.catch_up()
        try:
            return follower.read(follower.offsets[lines])
        except (UserError, OSError):
            raise HTTPException(503, "the run's log is being rewritten; reload in a moment") from None

    def _draw(self, path: Path, follower: LogFollower, summary: RunSummary, stored: int | None) -> _Drawn:
        """The report's plots of the run, drawn again only when the log or the summary changed."""
        key = (follower.version, stored)
        drawn = self._drawn.get(path)
        if drawn is not None and drawn.key == key:
            return drawn
        with _DRAWING:
            found = [plots.accuracy_by_protocol(summary), plots.reliability_diagram(follower.reliability)]
            run_plots = [p for p in found if p is not None] + plots.protocol_plots([
                (name, spec) for name, figures in summary.metrics.items()
                for spec in protocol_class(name).plots(figures)
            ])  # fmt: skip
            rated = Ratings.model_validate(summary.ratings) if summary.ratings else None
            rating_plot = plots.accuracy_vs_rating(rated.accuracy_vs_rating) if rated else None
            for plot in [*run_plots, *([rating_plot] if rating_plot else [])]:
                _ = plot.svg  # drawn now, under the lock, and kept for the image's request
        drawn = _Drawn(key, run_plots, rating_plot)
        self._drawn[path] = drawn
        return drawn

    def plot(self, request: Request) -> Response:
        """``/{run}/plots/{key}.svg``: a plot of the run's page, as an SVG image."""
        _, path = self._find(request)
        drawn = self._drawn.get(path)
        if drawn is None:  # the page was not drawn in this process (a restart): draw it
            self.run_page(request)
            drawn = self._drawn[path]
        found = [
            p for p in [*drawn.run_plots, drawn.rating_plot] if p is not None and p.key == request.path_params["key"]
        ]
        if not found:
            raise HTTPException(404, "no such plot")
        return Response(found[0].svg, media_type="image/svg+xml")

    # a game ---------------------------------------------------------------------------------------------------

    def game_page(self, request: Request) -> HTMLResponse:
        """``/{run}/games/{game}``: one game, as the report shows it; 404 for a game the run's log does not hold."""
        name, path = self._find(request)
        game = request.path_params["game"]
        follower = self._follower(path)
        with follower.lock:
            follower.catch_up()
            if game not in follower.latest:
                raise HTTPException(404, "no such game in this run")
            record = self._record(follower, game)
        return self._render("watch_game.html", request, name=name, game=_game_view(record))

    def _record(self, follower: LogFollower, game: str) -> GameRecord:
        """The game's latest record in the log (its lock held), read again after catching up if the log was replaced."""
        for _ in range(2):
            try:
                record = follower.read([follower.latest[game]])[0]
                if record.game_id == game:
                    return record
            except (UserError, OSError):
                pass
            follower.catch_up()  # the log was replaced since it was read
            if game not in follower.latest:
                break
        raise HTTPException(404, "no such game in this run")

    # shared ---------------------------------------------------------------------------------------------------

    def report_css(self, request: Request) -> Response:
        """``/report.css``: the report's styles for its views (tables, games, turns, quotes, plots)."""
        return Response(self._css, media_type="text/css")

    def _render(self, template: str, request: Request, **context: Any) -> HTMLResponse:
        # where the pages are mounted (``/runs``): links are made from it, whatever the address asked
        base = request.scope.get("root_path", "").rstrip("/")
        page = self._env.get_template(template).render(request=request, base=base, **context)
        return HTMLResponse(page)


def watch_routes(roots: Sequence[Path]) -> list[BaseRoute]:
    """The pages that watch the run folders under ``roots`` (each a folder of run folders, or one itself), for the
    app to mount under ``/runs``: the list of runs, each run's progress, tables and plots, and its games."""
    return RunWatcher(roots).routes()
