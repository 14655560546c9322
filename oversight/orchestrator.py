"""Plays many games at once and writes each as it finishes.

One game's exception becomes that game's failed record; a :class:`FatalRunError` stops the run. Ctrl-C or
SIGTERM starts nothing new and cancels the games in flight (their model calls already made stay in the
response cache, so resuming replays them without new requests); finished records are always written.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal

from oversight.errors import FatalRunError
from oversight.progress import RunProgress
from oversight.protocol import GameSetup
from oversight.records import GameRecord
from oversight.runfolder import TranscriptWriter

Outcome = Literal["complete", "interrupted"]
#: allocations between young-generation collections while games play (Python's default is 2,000)
GC_THRESHOLD = 20_000


async def play_all(
    setups: Iterable[GameSetup],
    play: Callable[[GameSetup], Awaitable[GameRecord]],
    writer: TranscriptWriter,
    progress: RunProgress,
    concurrency: int,
) -> Outcome:
    """Play the games with at most ``concurrency`` at a time, writing each record and counting it in the progress as
    it finishes; "interrupted" when a signal stopped the run first."""
    pending = iter(setups)
    interrupted = asyncio.Event()
    workers: list[asyncio.Task[None]] = []

    async def worker() -> None:
        for setup in pending:
            if interrupted.is_set():
                return
            record = await play(setup)
            await writer.append(record)
            progress.game_finished(record)

    def on_signal() -> None:
        interrupted.set()
        for task in workers:
            task.cancel()

    loop = asyncio.get_running_loop()
    handled: list[tuple[signal.Signals, Any]] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
            handled.append((sig, previous))
    # thousands of short-lived request and record objects would trigger many full collections, each rescanning
    # everything alive since start-up: collect less often while games play
    threshold = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, *threshold[1:])
    try:
        async with asyncio.TaskGroup() as group:
            workers.extend(group.create_task(worker()) for _ in range(max(1, concurrency)))
    except* FatalRunError as errors:
        raise errors.exceptions[0] from None
    finally:
        gc.set_threshold(*threshold)
        for sig, previous in handled:
            loop.remove_signal_handler(sig)
            # removing resets the signal to Python's default; what the process had before applies again
            if previous is not None:
                signal.signal(sig, previous)
    return "interrupted" if interrupted.is_set() else "complete"
