"""A person judging in the terminal: the transcript is shown, a choice and a confidence are typed in.

Games wait their turn for the one person at the keyboard; their debaters keep playing meanwhile. Works in any
terminal, tmux included, and reads plain lines, so answers can also be piped in. When the input ends the run
stops, and the games not yet judged are judged when the same command is run again.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import TextIO

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from oversight.errors import FatalRunError
from oversight.judges.base import JudgeContext, JudgeView
from oversight.quotes import highlight_quotes
from oversight.records import Verdict

SEAT_STYLES = {"A": "cyan", "B": "magenta", "C": "green", "D": "yellow"}


def _read_line(stream: TextIO) -> asyncio.Future[str]:
    """Read a line without blocking the event loop; a daemon thread never holds up exit (Ctrl-C)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def work() -> None:
        line = stream.readline()
        loop.call_soon_threadsafe(lambda: future.done() or future.set_result(line))

    threading.Thread(target=work, daemon=True, name="human-judge-input").start()
    return future


def stated_verdict(labels: list[str], choice: int, confidence: float | None) -> Verdict:
    """A person's verdict: the answer they picked and, when they gave one, their confidence in it, the rest of the
    probability spread evenly over the other answers."""
    if confidence is None:
        return Verdict(choice=choice, source="human", raw=labels[choice])
    rest = (1 - confidence) / (len(labels) - 1)
    probabilities = [confidence if i == choice else rest for i in range(len(labels))]
    return Verdict(choice=choice, probabilities=probabilities, source="human", raw=f"{labels[choice]} {confidence:.0%}")


class HumanJudge:
    """A person at the terminal: shown each game's transcript, they type a choice and, if they like, a confidence."""

    #: the run shows plain progress lines instead of a live bar, which would overwrite the transcript
    uses_terminal = True

    def __init__(self, stdin: TextIO | None = None, console: Console | None = None) -> None:
        self._stdin = stdin or sys.stdin
        self._console = console or Console(highlight=False)
        self._lock: asyncio.Lock | None = None

    def describe(self) -> str:
        """Always ``human``."""
        return "human"

    def model_specs(self) -> list[str]:
        """An empty list: a person calls no model."""
        return []

    def _show(self, view: JudgeView) -> None:
        from oversight.display import seat_name  # the protocol registry, only once a person judges

        console = self._console
        console.rule(Text(f"{view.protocol} · judge this game"))
        console.print(Text(view.question, style="bold"))
        for label, choice in zip(view.labels, view.choices, strict=True):
            console.print(Text(f"  {label}. {choice}"))
        if view.passage is not None:
            console.print(Panel(Text(view.passage), title="passage"))
        for turn in view.turns:
            # a seat by its protocol's name for it: "Debater A" would read as the answer lettered A
            title = seat_name(view.protocol, turn.seat) if turn.seat else turn.speaker
            title += f" · round {turn.round}" if turn.round else ""
            if turn.defends is not None and 0 <= turn.defends < len(view.labels):
                title += f" · defends {view.labels[turn.defends]}"
            body = highlight_quotes(Text(turn.content))
            console.print(Panel(body, title=Text(title), title_align="left", border_style=SEAT_STYLES.get(turn.seat or "", "white")))
        if not view.turns:
            console.print(Text("(no arguments: answer from the question alone)"))

    async def _prompt(self, prompt: str) -> str:
        self._console.print(Text(prompt), end="")
        line = await _read_line(self._stdin)
        if line == "":
            # the judge is gone: every game left would end without a verdict, so the run stops and a rerun judges them
            raise FatalRunError("--judge human: the input closed before the game was judged; rerun to judge it")
        return line.strip()

    async def decide(self, view: JudgeView, ctx: JudgeContext) -> Verdict:
        """Show the game and read an answer (asked again until it is a label), then an optional confidence."""
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            self._show(view)
            labels = view.labels
            while True:
                answer = await self._prompt(f"Your answer ({'/'.join(labels)}): ")
                if answer.upper() in labels:
                    break
                self._console.print(Text(f"Type one of {', '.join(labels)}.", style="yellow"))
            confidence = await self._confidence(len(labels))
            return stated_verdict(labels, labels.index(answer.upper()), confidence)

    async def _confidence(self, n: int) -> float | None:
        floor = 100 / n
        while True:
            text = await self._prompt(f"Confidence in that answer, {floor:.0f}-100% (Enter to skip): ")
            if not text:
                return None
            try:
                value = float(text.rstrip("%"))
            except ValueError:
                value = -1.0
            if floor <= value <= 100:
                return value / 100
            self._console.print(Text(f"Type a number from {floor:.0f} to 100.", style="yellow"))

    async def ask(self, view: JudgeView, ctx: JudgeContext) -> str | None:
        """Show the game so far and read a question for the debaters (an empty line for none)."""
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            self._show(view)
            return await self._prompt("Question for the debaters (Enter for none): ") or None
