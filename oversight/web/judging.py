"""The judging pages, and the session that serves them beside its re-judging run.

A judge opens their invite link (``/join/<token>``) or signs in with a name at ``/``; ``/judge`` then shows their
next game exactly as its protocol's :class:`~oversight.judges.JudgeView` shows it — the question, the choices, the
turns by seat and round with each quote marked verified or unverified, the passage only where the protocol shows
it — and one button per answer and confidence. Nothing else of the stored game reaches the page: not its answer,
not its old verdict, not another judge's. There is no route per game and no JSON: a judge reaches only the game
now waiting for them, and a verdict for any other game is refused.

Games whose protocol takes questions show their stored questions where they were asked, and below the game a box
to question the players (``POST /question``, checked as a verdict is): the run has them answer with their own
models, in one more round after the last one, and the page shows the game again with the question and the answers
(their quotes marked as any argument's), until the judge has asked :data:`~oversight.judges.web.MAX_QUESTIONS`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from oversight.display import seat_name
from oversight.judges.base import JudgeView
from oversight.judges.web import MAX_QUESTION_CHARS, JudgingDesk, Showing
from oversight.ratings import GameResult
from oversight.records import RunSummary
from oversight.report import Segment
from oversight.runner import Execution, RunResult, execute_plan
from oversight.web.planning import WebJudgingPlan
from oversight.web.rendering import render
from oversight.web.security import read_form
from oversight.web.server import Listener
from oversight.web.sessions import JudgePanel, JudgePlace, clean_name

JUDGE_COOKIE = "oversight_judge"
#: a judge's cookie outlives a closed browser for a week, so they come back without their link
COOKIE_SECONDS = 7 * 24 * 3600
#: seconds between reloads of the page that waits for the run to bring a judge's next game
WAIT_REFRESH = 2
_MARK = re.compile(r"<quote (verified|unverified)>(.*?)</quote>", re.DOTALL)
_ANSWER = re.compile(r"(\d{1,2}):(0(?:\.\d{1,4})?|1(?:\.0{1,4})?)")


def confidence_levels(choices: int) -> list[float]:
    """The confidences a judge can give an answer: from just above chance to near certainty."""
    chance = 1 / choices
    return [round(chance + (1 - chance) * step, 2) for step in (0.1, 0.4, 0.7, 0.98)]


def marked_segments(text: str) -> list[Segment]:
    """A turn as its judge sees it, split at the quote marks the engine put in (``<quote verified>`` …)."""
    segments: list[Segment] = []
    end = 0
    for match in _MARK.finditer(text):
        if match.start() > end:
            segments.append(Segment(text[end : match.start()]))
        segments.append(Segment(match.group(2), match.group(1), f"{match.group(1)} quote"))
        end = match.end()
    if end < len(text):
        segments.append(Segment(text[end:]))
    return segments


def view_context(view: JudgeView, played: int | None = None) -> dict[str, Any]:
    """What the game page shows of a view, and nothing else; the turns after the first ``played`` (default: none)
    are the judge's own questions and their answers, numbered by question."""
    turns = []
    asked = 0
    for index, turn in enumerate(view.turns):
        defends = view.labels[turn.defends] if turn.defends is not None and 0 <= turn.defends < len(view.labels) else None
        question = turn.kind == "question"
        follow_up = played is not None and index >= played
        if question and follow_up:
            asked += 1
        turns.append({
            # a seat by its protocol's name for it: "Debater A" would read as the answer lettered A
            "speaker": seat_name(view.protocol, turn.seat) if turn.seat else turn.speaker,
            "seat": turn.seat or "",
            "round": turn.round,
            "question": question,
            "follow_up": asked if follow_up else 0,
            "defends": defends,
            # only arguments have their quotes checked: a question's marks would be its asker's own
            "segments": [Segment(turn.content)] if question else marked_segments(turn.content),
        })
    levels = confidence_levels(len(view.choices))
    return {
        "view": view,
        "choices": list(zip(view.labels, view.choices, strict=True)),
        "turns": turns,
        "levels": levels,
    }


def showing_context(showing: Showing) -> dict[str, Any]:
    """What the game page shows of a waiting game: its view, the question box while questions are left, and why
    the last question got no answer."""
    return {
        **view_context(showing.view, showing.played),
        "questions_left": showing.questions_left,
        "question_chars": MAX_QUESTION_CHARS,
        "error": showing.error,
    }


@dataclass
class JudgingSession:
    """What the judging pages serve: the judges' places, the desk where games wait, and the run folder the places
    are kept in."""

    panel: JudgePanel
    desk: JudgingDesk
    plan: WebJudgingPlan

    def save(self) -> None:
        """Keep the places in the run folder (a name taken, a link renewed)."""
        self.panel.write(self.plan.out)

    def progress(self, place: JudgePlace) -> tuple[int, str | None, bool]:
        """How many of the place's games are done, its next game's id (None when all are done), and whether that
        game waits for its verdict now."""
        done = 0
        for game in place.games:
            if game in self.desk.judged or game in self.desk.ended:
                done += 1
                continue
            return done, game, self.desk.waiting(game)
        return done, None, False


def _session(request: Request) -> JudgingSession:
    return request.app.state.judging


def _place(request: Request) -> JudgePlace | None:
    place = _session(request).panel.by_token(request.cookies.get(JUDGE_COOKIE))
    return place if place is not None and place.name is not None else None


def _signed_in(place: JudgePlace, to: str = "/judge") -> Response:
    response = RedirectResponse(to, status_code=303)
    response.set_cookie(JUDGE_COOKIE, place.token, max_age=COOKIE_SECONDS, httponly=True, samesite="strict")
    return response


async def start(request: Request) -> Response:
    """``/``: the sign-in form, or the judge's own page when this browser is signed in."""
    if _place(request) is not None:
        return RedirectResponse("/judge", status_code=303)
    return render(request, "judge_start.html", {"free": _session(request).panel.free_place() is not None})


async def sign_in(request: Request) -> Response:
    """Sign in with a name: take the first free place, under a new link."""
    fields = await read_form(request)
    session = _session(request)
    try:
        name = clean_name(fields.get("name", ""))
    except ValueError as exc:
        return render(request, "judge_start.html", {"free": True, "error": str(exc)}, status=400)
    if session.panel.taken(name):
        error = "that name is taken: if it is yours, come back with your link"
        return render(request, "judge_start.html", {"free": True, "error": error}, status=409)
    place = session.panel.free_place()
    if place is None:
        return render(request, "judge_start.html", {"free": False}, status=409)
    session.panel.take(place, name, new_link=True)
    session.save()
    return _signed_in(place)


async def join(request: Request) -> Response:
    """An invite link: sign in to its place, asking for a name the first time."""
    session = _session(request)
    place = session.panel.by_token(request.path_params["token"])
    if place is None:
        raise HTTPException(404, "no such invite link")
    if request.method == "GET":
        if place.name is not None:
            return _signed_in(place)
        return render(request, "judge_join.html", {"place": place, "name": f"judge {place.number}"})
    fields = await read_form(request)
    try:
        name = clean_name(fields.get("name", ""))
    except ValueError as exc:
        return render(request, "judge_join.html", {"place": place, "name": "", "error": str(exc)}, status=400)
    if place.name is None:
        if session.panel.taken(name):
            error = "that name is taken: choose another"
            return render(request, "judge_join.html", {"place": place, "name": name, "error": error}, status=409)
        session.panel.take(place, name, new_link=False)
        session.save()
    return _signed_in(place)


def _game_page(request: Request, place: JudgePlace) -> Response:
    session = _session(request)
    done, game, waiting = session.progress(place)
    context = {"place": place, "done": done, "total": len(place.games), "link": f"{request.base_url}join/{place.token}"}
    if game is None:
        return render(request, "judge_done.html", context)
    if not waiting:
        return render(request, "judge_wait.html", {**context, "refresh": WAIT_REFRESH})
    showing = session.desk.show(game)
    page = {**context, **showing_context(showing), "game": game, "number": done + 1}
    return render(request, "judge_game.html", page)


async def judge_page(request: Request) -> Response:
    """``/judge``: the signed-in judge's next game (its judging time starts now), or why there is none."""
    place = _place(request)
    if place is None:
        return RedirectResponse("/", status_code=303)
    return _game_page(request, place)


async def _posted_on_current_game(
    request: Request,
) -> tuple[JudgingSession, JudgePlace, dict[str, str], str] | Response:
    """The session, the judge, the form and the game of a POST on the judge's current game; the judge's page again
    when the game is no longer current (judged already: a second click, a reload, a page left open in another tab).
    Refused for a judge not signed in and for another judge's game."""
    place = _place(request)
    if place is None:
        raise HTTPException(403, "sign in first")
    fields = await read_form(request)
    session = _session(request)
    game = fields.get("game", "")
    if game not in place.games:
        raise HTTPException(404, "no such game")
    if game != session.progress(place)[1]:
        return RedirectResponse("/judge", status_code=303)
    return session, place, fields, game


async def verdict(request: Request) -> Response:
    """A verdict on the judge's current game; the run records it. Refused for any other game."""
    posted = await _posted_on_current_game(request)
    if isinstance(posted, Response):
        return posted
    session, place, fields, game = posted
    if session.desk.answering(game):
        raise HTTPException(409, "the debaters are still answering your question: reload the page to see the answers")
    answer = _ANSWER.fullmatch(fields.get("answer", ""))
    if answer is None:
        raise HTTPException(400, "pick an answer")
    try:
        session.desk.give(game, int(answer.group(1)), float(answer.group(2)), place.name or "")
    except ValueError:
        raise HTTPException(400, "that answer does not fit this game") from None
    if session.progress(place)[1] is None:
        # the last verdict may end the whole session: the page is sent now, before the server stops
        return _game_page(request, place)
    return RedirectResponse("/judge", status_code=303)


async def question(request: Request) -> Response:
    """A question on the judge's current game, for its players to answer before the page shows the game again.
    Refused for any other game, and for a game that takes no (more) questions."""
    posted = await _posted_on_current_game(request)
    if isinstance(posted, Response):
        return posted
    session, place, fields, game = posted
    # one line, as the players' transcript shows it
    text = " ".join(fields.get("question", "").split())
    if not 0 < len(text) <= MAX_QUESTION_CHARS:
        raise HTTPException(400, f"a question is 1 to {MAX_QUESTION_CHARS} characters")
    try:
        await session.desk.ask(game, text)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse("/judge", status_code=303)


async def leave(request: Request) -> Response:
    """Stop for now: this browser forgets the judge; their link brings them back to the next game."""
    place = _place(request)
    await read_form(request)
    link = f"{request.base_url}join/{place.token}" if place is not None else None
    response = render(request, "judge_left.html", {"link": link})
    response.delete_cookie(JUDGE_COOKIE, httponly=True, samesite="strict")
    return response


def judging_routes() -> list[BaseRoute]:
    """The judging pages; they read the session from ``app.state.judging``."""
    return [
        Route("/", start, methods=["GET"]),
        Route("/signin", sign_in, methods=["POST"]),
        Route("/join/{token}", join, methods=["GET", "POST"]),
        Route("/judge", judge_page, methods=["GET"]),
        Route("/judge", verdict, methods=["POST"]),
        Route("/question", question, methods=["POST"]),
        Route("/leave", leave, methods=["POST"]),
    ]


async def run_web_judging(
    plan: WebJudgingPlan,
    execution: Execution,
    command: list[str],
    summarise: Callable[[RunSummary, list[GameResult]], None] | None,
    listen: Listener,
) -> RunResult:
    """Play the session's run while its pages are served; print the address and the invite links once the run holds
    its folder, and stop serving when the run ends (every game judged, or Ctrl-C)."""
    from oversight.web.app import create_app  # the app mounts these pages: imported when it is made

    session = JudgingSession(plan.panel, plan.judge.desk, plan)
    app = create_app(judging=session, hosts=listen.hosts)
    server = listen.server(app)
    games = sum(len(p.games) for p in plan.panel.places)
    # every game waits for its verdict at once: a judge's next game never queues behind another judge's
    execution = execution.model_copy(update={"out": plan.out, "max_connections": max(1, min(4096, -(-games // 2)))})
    run = asyncio.create_task(execute_plan(plan.run, execution, command, summarise=summarise))
    opened = asyncio.create_task(session.desk.opened.wait())
    serving: asyncio.Task[None] | None = None
    try:
        await asyncio.wait([run, opened], return_when=asyncio.FIRST_COMPLETED)
        if not run.done():
            session.save()  # the run holds the folder now: the places are kept with it
            serving = asyncio.create_task(server.serve(sockets=[listen.socket]))
            while not server.started and not serving.done():
                await asyncio.sleep(0.01)
            _announce(plan, listen.url, games)
        return await run
    finally:
        opened.cancel()
        server.should_exit = True
        if serving is not None:
            await serving


def _announce(plan: WebJudgingPlan, url: str, games: int) -> None:
    places = plan.panel.places
    judged = len(plan.judge.desk.judged)
    print(
        f"judging at {url}/ · {len(places)} judge{'s' if len(places) != 1 else ''}, {games} games"
        + (f" ({judged} judged already)" if judged else ""),
        flush=True,
    )
    print("invite links (one per judge; each is that judge's way back in):", flush=True)
    for place in places:
        named = f"  ({place.name})" if place.name else ""
        print(f"  judge {place.number}: {url}/join/{place.token}{named}", flush=True)
