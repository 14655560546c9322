"""Run progress: a rich progress bar on a terminal, a plain line per tenth of the run otherwise."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from oversight.models.retry import RetryStats
from oversight.records import GameRecord

if TYPE_CHECKING:
    from rich.progress import Progress


def _human(n: float) -> str:
    for unit in ("", "k", "M", "G"):
        if abs(n) < 1000:
            return f"{n:.0f}{unit}" if unit == "" else f"{n:.1f}{unit}"
        n /= 1000
    return f"{n:.1f}T"


class RunProgress:
    """How far a run has got: games done and failed, fresh tokens spent and games per second, shown as it goes on
    the stream."""

    def __init__(
        self,
        total: int,
        already_done: int,
        label: str,
        stream: TextIO | None = None,
        live: bool = True,
        retries: RetryStats | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        #: the run's retried model calls: counted here, summed up in one line at the end
        self.retries = retries or RetryStats()
        self.total = total
        self.done = already_done
        self.failed = 0
        self.tokens = 0
        #: calls answered by a model (not the cache) so far, and those of them made by games already finished
        self.calls = 0
        self._finished_calls = 0
        #: time spent starting models, when no game could move: left out of the rate the estimate runs at
        self._loading = 0.0
        self.label = label
        self._started = time.monotonic()
        self._start_done = already_done
        self._next_line = 0
        self._progress: Progress | None = None
        if live and self.stream.isatty():
            # rich's progress bar is slow to import and only drawn on a terminal
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(
                    "{task.fields[failed]} failed{task.fields[retries]} · {task.fields[tokens]} tokens"
                    " · {task.fields[rate]}"
                ),
                TimeElapsedColumn(),
                TextColumn("eta {task.fields[eta]}"),
                console=Console(file=self.stream),
                transient=False,
            )
            self._task = self._progress.add_task(label, total=total, completed=already_done, **self._fields())
            self._progress.start()

    @property
    def played(self) -> int:
        """Games finished since this run started (not those the folder already held)."""
        return self.done - self._start_done

    def _rate(self) -> str:
        elapsed = time.monotonic() - self._started
        played = self.played
        return f"{played / elapsed:.2f} games/s" if elapsed > 0 and played else "- games/s"

    def remaining(self) -> float | None:
        """Seconds left, estimated from model calls rather than games: the calls a game needs (from the finished
        ones) times the games left, less the calls the games in flight have made, at the rate calls are answered
        since the models were loaded. None until a game has finished, when there is nothing to go on."""
        played = self.played
        working = time.monotonic() - self._started - self._loading
        if played <= 0 or working <= 0:
            return None
        left = self.total - self.done
        if not self._finished_calls:  # every call so far came from the cache
            return working / played * left
        calls_left = max(0.0, self._finished_calls / played * left - (self.calls - self._finished_calls))
        return calls_left * working / self.calls

    def _eta(self) -> str:
        seconds = self.remaining()
        if seconds is None:
            return "–"
        minutes, secs = divmod(round(seconds), 60)
        return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"

    def _fields(self) -> dict[str, str]:
        retries = f" · {self.retries.total:,} retries" if self.retries.total else ""
        return {"failed": str(self.failed), "retries": retries, "tokens": _human(self.tokens), "rate": self._rate(),
                "eta": self._eta()}

    def _say(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message, markup=False, highlight=False)
        else:
            print(f"oversight: {message}", file=self.stream, flush=True)

    def loading(self, spec: str) -> None:
        """Show that a model is being started: its own step, before any game can move."""
        self._say(f"loading {spec} (on first use its weights are assembled first)")
        if self._progress is not None:
            self._progress.update(self._task, description=f"loading {spec}")

    def loaded(self, spec: str, seconds: float) -> None:
        """The model is ready: say how long it took, and leave that time out of the estimate."""
        self._loading += seconds
        self._say(f"{spec} ready in {seconds:.1f} s")
        if self._progress is not None:
            self._progress.update(self._task, description=self.label, **self._fields())

    def distilling(self, role: str, rows: int, iteration: int) -> None:
        """Say that the role's model is being fine-tuned (or its rows exported) on an iteration's rows."""
        self._say(f"distilling iteration {iteration}: {rows} rows for the {role}")

    def exported(self, path: Path) -> None:
        """Say where the exported rows are and that the run stops until a fine-tuned model continues it."""
        self._say(f"wrote {path}: fine-tune on it, then rerun with the role bound to the fine-tuned model")

    def called(self) -> None:
        """Count a call a model answered, for the estimate of what is left."""
        self.calls += 1

    def _line(self) -> None:
        step = max(1, self.total // 10)
        if self.done < self._next_line and self.done != self.total:
            return
        self._next_line = (self.done // step + 1) * step
        f = self._fields()
        retried = f", {self.retries.total:,} retries" if self.retries.total else ""
        print(
            f"{self.label}: {self.done}/{self.total} games, {f['failed']} failed{retried}, {f['tokens']} tokens, "
            f"{f['rate']}, eta {f['eta']}",
            file=self.stream,
            flush=True,
        )

    def game_finished(self, record: GameRecord) -> None:
        """Count a finished game (failed or not) and its tokens, leaving out calls answered from the cache."""
        self.done += 1
        self.failed += record.status == "failed"
        fresh = [call for call in record.calls if not call.cached]
        self.tokens += sum(call.usage.total_tokens for call in fresh)
        self._finished_calls += len(fresh)
        if self._progress is not None:
            self._progress.update(self._task, completed=self.done, **self._fields())
        else:
            self._line()

    def close(self) -> None:
        """Stop the progress bar and print the one-line summary of retried model calls, if there were any."""
        if self._progress is not None:
            self._progress.stop()
        if summary := self.retries.summary():
            print(f"oversight: {summary}", file=self.stream, flush=True)
