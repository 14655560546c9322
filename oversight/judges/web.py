"""People judging stored games in the browser (``oversight judge RUN --judge web``).

The run plays every assigned game at once; each waits at a :class:`JudgingDesk` for its verdict, and the web pages
(:mod:`oversight.web.judging`) show a waiting game to the judge it is assigned to and hand the verdict back. The
pages never write: the run records each game as for any judge, so a verdict's record is on disk as soon as the
run's writer has it, and resuming never judges a recorded game again.

Judging time is counted from the last time the page showed the game to the verdict: a judge who leaves in the
middle of a game and comes back is timed from their return, so time away never counts (``shown`` says how many
times the game was shown). The page shown again with the answers to the judge's question goes on timing.

A game whose protocol takes questions waits with an :data:`Answerer`: the judge may ask up to
:data:`MAX_QUESTIONS`, each answered by the stored game's players through the run's models before the page shows
the game again. A question that gets no answer (a model fails) is shown as a one-line error and the game still
waits for its verdict.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from oversight.errors import FatalRunError
from oversight.judges.base import JudgeContext, JudgeView
from oversight.judges.human import stated_verdict
from oversight.records import Verdict
from oversight.secrets import redact

#: how a waiting game answers its judge's question: the game's view with the question and its answers
Answerer = Callable[[str], Awaitable[JudgeView]]
#: questions a judge may ask on one game, answered or not: each costs a model call per player
MAX_QUESTIONS = 3
#: the longest question, in characters
MAX_QUESTION_CHARS = 300


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
    #: the judge's questions that were answered (the record's turns hold them)
    questions: int = 0
    #: why each question that got no answer got none
    question_errors: list[str] = field(default_factory=list)

    def meta(self) -> dict[str, object]:
        """What the game's record keeps of it, under ``meta.web_judging``."""
        errors = {"question_errors": self.question_errors} if self.question_errors else {}
        return {
            "judge": self.judge, "seconds": round(self.seconds, 3), "shown": self.shown, "questions": self.questions,
            **errors,
        }


@dataclass(frozen=True)
class Showing:
    """A waiting game as the page is about to show it."""

    view: JudgeView
    #: how many of the view's turns are the stored game's; the ones after them answer this judge's questions
    played: int
    #: how many more questions the judge may ask (0 when the game takes none)
    questions_left: int
    #: why the judge's last question got no answer, shown once
    error: str | None = None


@dataclass
class _Waiting:
    view: JudgeView
    future: asyncio.Future[Judgement]
    answer: Answerer | None = None
    played: int = 0
    shown_at: float | None = None
    shown: int = 0
    asked: int = 0
    answered: int = 0
    answering: bool = False
    errors: list[str] = field(default_factory=list)
    unseen_error: str | None = None
    #: the page shows the game again right after a question: the judge never left, so the clock goes on
    held: bool = False

    def questions_left(self) -> int:
        return 0 if self.answer is None else MAX_QUESTIONS - self.asked


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

    async def verdict_for(self, game_id: str, view: JudgeView, answer: Answerer | None = None) -> Judgement:
        """Wait for the verdict on the game ``view`` shows; ``answer`` answers the judge's questions (None: the
        game takes none)."""
        waiting = _Waiting(view, asyncio.get_running_loop().create_future(), answer, played=len(view.turns))
        self._waiting[game_id] = waiting
        self.opened.set()
        try:
            return await waiting.future
        finally:
            del self._waiting[game_id]

    def waiting(self, game_id: str) -> bool:
        """Whether the game waits for its verdict now."""
        return game_id in self._waiting and not self._waiting[game_id].future.done()

    def answering(self, game_id: str) -> bool:
        """Whether the players of a waiting game are answering its judge's question now."""
        return game_id in self._waiting and self._waiting[game_id].answering

    def show(self, game_id: str) -> Showing:
        """A waiting game, for the page about to show it: its judging time starts now, unless the page shows it
        again with the answers to the judge's question."""
        waiting = self._waiting[game_id]
        if not waiting.held:
            waiting.shown_at = time.monotonic()
            waiting.shown += 1
        waiting.held = False
        error, waiting.unseen_error = waiting.unseen_error, None
        return Showing(waiting.view, waiting.played, waiting.questions_left(), error)

    async def ask(self, game_id: str, question: str) -> None:
        """Have the players of a waiting game that was shown answer its judge's ``question``; the game's view then
        holds the question and the answers, or the next showing says why there are none. ValueError when the game
        takes no question now (none at all, none left, or one is being answered)."""
        waiting = self._waiting.get(game_id)
        if waiting is None or waiting.future.done() or waiting.shown_at is None:
            raise ValueError("this game is not waiting for a verdict")
        if waiting.answer is None:
            raise ValueError("this game takes no questions")
        if waiting.answering:
            raise ValueError("the debaters are still answering your last question")
        if not waiting.questions_left():
            raise ValueError(f"you have asked the {MAX_QUESTIONS} questions a game takes")
        waiting.asked += 1
        waiting.answering = True
        try:
            view = await waiting.answer(question)
        except Exception as exc:  # a model that cannot answer leaves the game to be judged as it stands
            # the record keeps why; the page only says that it failed, since a backend's message may quote the
            # prompt, passage included
            waiting.errors.append(redact(f"{type(exc).__name__}: {exc}".strip()).splitlines()[0])
            waiting.unseen_error = "The debaters could not answer that question: a model failed. Ask again or judge."
        else:
            waiting.view = view
            waiting.answered += 1
        finally:
            waiting.answering = False
            waiting.held = True

    def give(self, game_id: str, choice: int, confidence: float, judge: str) -> Verdict:
        """The verdict of ``judge`` on a waiting game that was shown: ``choice`` (an index of the view's choices)
        with ``confidence``; the game is recorded by the run. ValueError when the game does not wait or the
        answer does not fit it."""
        waiting = self._waiting.get(game_id)
        if waiting is None or waiting.future.done() or waiting.shown_at is None or waiting.answering:
            raise ValueError(f"game {game_id} is not waiting for a verdict")
        labels = waiting.view.labels
        if not 0 <= choice < len(labels) or not 1 / len(labels) <= confidence <= 1:
            raise ValueError(f"no answer {choice} at {confidence} for game {game_id}")
        verdict = stated_verdict(labels, choice, confidence)
        seconds = time.monotonic() - waiting.shown_at
        waiting.future.set_result(
            Judgement(verdict, judge, seconds, waiting.shown, waiting.answered, list(waiting.errors))
        )
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

    def for_game(self, game_id: str, answer: Answerer | None = None) -> GameJudge:
        """The judge of the stored game ``game_id``: the person the page shows it to, whose questions ``answer``
        answers (None: the game takes none)."""
        return GameJudge(self.desk, game_id, answer)


class GameJudge:
    """One stored game's judge on the web page; after its verdict it knows who gave it, and how."""

    def __init__(self, desk: JudgingDesk, game_id: str, answer: Answerer | None = None) -> None:
        self._desk = desk
        self._game_id = game_id
        self._answer = answer
        self.judgement: Judgement | None = None

    def describe(self) -> str:
        """``web:<name>`` once judged (so ``oversight compare --by judge`` tells the judges apart), else ``web``."""
        return "web" if self.judgement is None else f"web:{self.judgement.judge}"

    def model_specs(self) -> list[str]:
        """An empty list: people call no model."""
        return []

    async def decide(self, view: JudgeView, ctx: JudgeContext) -> Verdict:
        """Wait until the game's judge gives a verdict on the page (asking questions first, if the game takes
        them)."""
        self.judgement = await self._desk.verdict_for(self._game_id, view, self._answer)
        return self.judgement.verdict

    async def ask(self, view: JudgeView, ctx: JudgeContext) -> str | None:
        """No question between a stored game's rounds: they were played already; the judge's own questions come
        after its last round (:meth:`JudgingDesk.ask`)."""
        return None
