"""People judging stored games in the browser (``oversight judge RUN --judge web``).

The run plays every assigned game at once; each waits at a :class:`JudgingDesk` for its verdict, and the web pages
(:mod:`oversight.web.judging`) show a waiting game to the judge it is assigned to and hand the verdict back. The
pages never write: the run records each game as for any judge, so a verdict's record is on disk as soon as the
run's writer has it, and resuming never judges a recorded game again.

Judging time is counted from the last time the page showed the game to the verdict: a judge who leaves in the
middle of a game and comes back is timed from their return, so time away never counts (``shown`` says how many
times the game was shown).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from oversight.errors import FatalRunError
from oversight.judges.base import JudgeContext, JudgeView
from oversight.judges.human import stated_verdict
from oversight.records import Verdict


@dataclass
class Judgement:
    """A verdict given on the page, and who gave it how."""

    verdict: Verdict
    #: the judge's name as they signed in (never their token)
    judge: str
    #: from the last showing of the game to the verdict
    seconds: float
    #: how many times the page showed the game
    shown: int

    def meta(self) -> dict[str, object]:
        """What the game's record keeps of it, under ``meta.web_judging``."""
        return {"judge": self.judge, "seconds": round(self.seconds, 3), "shown": self.shown}


@dataclass
class _Waiting:
    view: JudgeView
    future: asyncio.Future[Judgement]
    shown_at: float | None = None
    shown: int = 0


@dataclass
class JudgingDesk:
    """Where the run's games wait for their verdicts and the pages find them, by stored game id."""

    _waiting: dict[str, _Waiting] = field(default_factory=dict)
    #: games judged: recorded by an earlier attempt of the run, or given a verdict in this one
    judged: set[str] = field(default_factory=set)
    #: games that ended without a verdict (failed before they could be shown)
    ended: set[str] = field(default_factory=set)
    #: set when the first game waits: the run holds its folder and has started
    opened: asyncio.Event = field(default_factory=asyncio.Event)

    async def verdict_for(self, game_id: str, view: JudgeView) -> Judgement:
        """Wait for the verdict on the game ``view`` shows."""
        waiting = _Waiting(view, asyncio.get_running_loop().create_future())
        self._waiting[game_id] = waiting
        self.opened.set()
        try:
            return await waiting.future
        finally:
            del self._waiting[game_id]

    def waiting(self, game_id: str) -> bool:
        """Whether the game waits for its verdict now."""
        return game_id in self._waiting and not self._waiting[game_id].future.done()

    def show(self, game_id: str) -> JudgeView:
        """The view of a waiting game, for the page about to show it: its judging time starts now."""
        waiting = self._waiting[game_id]
        waiting.shown_at = time.monotonic()
        waiting.shown += 1
        return waiting.view

    def give(self, game_id: str, choice: int, confidence: float, judge: str) -> Verdict:
        """The verdict of ``judge`` on a waiting game that was shown: ``choice`` (an index of the view's choices)
        with ``confidence``; the game is recorded by the run. ValueError when the game does not wait or the
        answer does not fit it."""
        waiting = self._waiting.get(game_id)
        if waiting is None or waiting.future.done() or waiting.shown_at is None:
            raise ValueError(f"game {game_id} is not waiting for a verdict")
        labels = waiting.view.labels
        if not 0 <= choice < len(labels) or not 1 / len(labels) <= confidence <= 1:
            raise ValueError(f"no answer {choice} at {confidence} for game {game_id}")
        verdict = stated_verdict(labels, choice, confidence)
        seconds = time.monotonic() - waiting.shown_at
        waiting.future.set_result(Judgement(verdict, judge, seconds, waiting.shown))
        self.judged.add(game_id)
        return verdict


class WebJudge:
    """The ``web`` judge: whoever opens the judging page. Only ``oversight judge RUN --judge web`` can use it, which
    gives each game a judge of its own (:meth:`for_game`) bound to the session's desk."""

    #: the run prints plain progress lines, which leave the printed invite links on screen
    uses_terminal = True

    def __init__(self) -> None:
        self.desk = JudgingDesk()

    def describe(self) -> str:
        """Always ``web``; each game's record names its judge (``web:<name>``)."""
        return "web"

    def model_specs(self) -> list[str]:
        """An empty list: people call no model."""
        return []

    async def decide(self, view: JudgeView, ctx: JudgeContext) -> Verdict:
        """Refused: a game judged on the web page is bound to its judge by :meth:`for_game`."""
        raise FatalRunError("--judge web judges stored games in the browser: use 'oversight judge RUN --judge web'")

    async def ask(self, view: JudgeView, ctx: JudgeContext) -> str | None:
        """No question: stored games are judged as they were played."""
        return None

    def for_game(self, game_id: str) -> GameJudge:
        """The judge of the stored game ``game_id``: the person the page shows it to."""
        return GameJudge(self.desk, game_id)


class GameJudge:
    """One stored game's judge on the web page; after its verdict it knows who gave it, and how."""

    def __init__(self, desk: JudgingDesk, game_id: str) -> None:
        self._desk = desk
        self._game_id = game_id
        self.judgement: Judgement | None = None

    def describe(self) -> str:
        """``web:<name>`` once judged (so ``oversight compare --by judge`` tells the judges apart), else ``web``."""
        return "web" if self.judgement is None else f"web:{self.judgement.judge}"

    def model_specs(self) -> list[str]:
        """An empty list: people call no model."""
        return []

    async def decide(self, view: JudgeView, ctx: JudgeContext) -> Verdict:
        """Wait until the game's judge gives a verdict on the page."""
        self.judgement = await self._desk.verdict_for(self._game_id, view)
        return self.judgement.verdict

    async def ask(self, view: JudgeView, ctx: JudgeContext) -> str | None:
        """No question: stored games are judged as they were played."""
        return None
