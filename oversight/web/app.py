"""The web app: judging pages for a judging session, pages for watching run folders, and the package's own
style sheet — behind :class:`~oversight.web.security.Guard` (host and origin checks, CSRF tokens, strict headers).

A judging session serves only the judging pages: the pages that watch runs show verdicts and answers, which a
judge must not see, so ``oversight serve`` (watching) and ``oversight judge --judge web`` (judging) are separate
servers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from oversight.web.judging import judging_routes
from oversight.web.rendering import render
from oversight.web.security import Guard

if TYPE_CHECKING:
    from oversight.web.judging import JudgingSession

STATIC = Path(__file__).with_name("static")


async def _home(request: Request) -> Response:
    return render(request, "index.html")


async def _error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return render(request, "error.html", {"status": exc.status_code, "detail": exc.detail}, status=exc.status_code)


def create_app(
    *, judging: JudgingSession | None = None, roots: Sequence[Path] = (), hosts: frozenset[str] | None = None,
    secret: bytes | None = None,
) -> Starlette:
    """The app: the judging pages of ``judging`` at ``/``, or a home page and, for ``roots``, the pages that watch
    the run folders under them at ``/runs``; the style sheet at ``/static``. ``hosts``: the ``Host`` headers
    answered (None: any); ``secret``: the CSRF key (default: drawn now)."""
    routes: list[BaseRoute] = []
    if judging is not None:
        routes += judging_routes()
    else:
        routes.append(Route("/", _home, methods=["GET"]))
        if roots:
            from oversight.web.watch import watch_routes  # written beside this module; only watching needs it

            routes.append(Mount("/runs", routes=watch_routes(list(roots))))
    routes.append(Mount("/static", app=StaticFiles(directory=STATIC), name="static"))
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, hosts=hosts, secret=secret)],
        exception_handlers={HTTPException: _error},
    )
    app.state.judging = judging
    return app
