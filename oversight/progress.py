"""Run progress: a rich progress bar on a terminal, a plain line per tenth of the run otherwise."""

from __future__ import annotations

import sys
import time
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
        self.label = label
        self._started = time.monotonic()
        self._start_done = already_done
        self._next_line = 0
        self._progress: Progress | None = None
        if live and self.stream.isatty():
            # rich's progress bar is slow to import and only drawn on a terminal
            from rich.console import Console
            from rich.progress import (
                BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
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
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._task = self._progress.add_task(label, total=total, completed=already_done, **self._fields())
            self._progress.start()

    def _rate(self) -> str:
        elapsed = time.monotonic() - self._started
        played = self.done - self._start_done
        return f"{played / elapsed:.2f} games/s" if elapsed > 0 and played else "- games/s"

    def _fields(self) -> dict[str, str]:
        retries = f" · {self.retries.total:,} retries" if self.retries.total else ""
        return {"failed": str(self.failed), "retries": retries, "tokens": _human(self.tokens), "rate": self._rate()}

    def _line(self) -> None:
        step = max(1, self.total // 10)
        if self.done < self._next_line and self.done != self.total:
            return
        self._next_line = (self.done // step + 1) * step
        f = self._fields()
        retried = f", {self.retries.total:,} retries" if self.retries.total else ""
        print(
            f"{self.label}: {self.done}/{self.total} games, {f['failed']} failed{retried}, {f['tokens']} tokens, "
            f"{f['rate']}",
            file=self.stream,
            flush=True,
        )

    def game_finished(self, record: GameRecord) -> None:
        """Count a finished game (failed or not) and its tokens, leaving out calls answered from the cache."""
        self.done += 1
        self.failed += record.status == "failed"
        self.tokens += sum(call.usage.total_tokens for call in record.calls if not call.cached)
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
