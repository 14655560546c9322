"""Pages from the package's Jinja templates, autoescaped: model, task and judge text is always text, never markup.

Every page extends ``templates/base.html`` (blocks ``title``, ``nav`` and ``content``). A form carries the
request's CSRF token as ``{{ csrf_field() }}``; :func:`render` provides it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from oversight.views import cell


@cache
def environment() -> jinja2.Environment:
    """The web pages' Jinja environment: templates from the package only, autoescape on, undefined names errors."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("oversight.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = cell
    return env


def render(request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    """``template`` rendered with ``context``, plus ``request`` and ``csrf_field()`` (the hidden input every form
    posts back)."""
    token = getattr(request.state, "csrf", "")

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="csrf" value="{}">').format(token)

    page = environment().get_template(template).render(request=request, csrf_field=csrf_field, **(context or {}))
    return HTMLResponse(page, status_code=status)
