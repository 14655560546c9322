"""What keeps the app safe by default: one gate in front of every route.

- **Host.** A request must name this server as the host it asked for (``127.0.0.1:PORT``, ``localhost:PORT``, or
  the address it was started on), so a page of another site cannot reach it through a DNS name it controls.
  A server started with ``--allow-remote`` on a non-loopback address accepts any host name.
- **Cross-site forms.** Every POST must carry the CSRF token of its page: an HMAC, under a secret drawn when the
  server starts, of a random cookie (``SameSite=Strict``, ``HttpOnly``) the browser got with that page; a POST
  whose ``Origin`` is another site's is refused before that. A page from before a restart asks to be reloaded.
- **Headers.** A strict Content-Security-Policy (``default-src 'self'``, no script, no frames), no MIME sniffing, a
  referrer only within the app (invite links carry tokens; ``no-referrer`` would make browsers send
  ``Origin: null``, which is refused), nothing cached.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "oversight_csrf"
#: forms are a few fields; anything longer is refused unread
MAX_FORM_BYTES = 16_384
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'none'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-store",
}
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def allowed_hosts(host: str, port: int, any_host: bool) -> frozenset[str] | None:
    """The ``Host`` headers the server answers: its loopback names and ``host`` with ``port``; None for any."""
    if any_host:
        return None
    names = {*LOOPBACK_NAMES, f"[{host}]" if ":" in host else host}
    return frozenset(f"{name}:{port}" for name in names)


def _cookie(headers: Headers, name: str) -> str | None:
    jar = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header is no cookie  # noqa: BLE001
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


class Guard:
    """ASGI middleware: checks the host and, for anything but GET/HEAD, the origin; gives every browser a CSRF
    cookie and every request its token (``request.state.csrf``); adds the security headers to every response."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str] | None, secret: bytes | None = None) -> None:
        self.app = app
        self.hosts = None if hosts is None else frozenset(hosts)
        self.secret = secret or secrets.token_bytes(32)

    def token(self, cookie: str) -> str:
        """The CSRF token of a browser's cookie."""
        return hmac.new(self.secret, cookie.encode(), hashlib.sha256).hexdigest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.hosts is not None and host not in self.hosts:
            await self._refuse(scope, receive, send, 403, "unknown host")
            return
        if scope["method"] not in ("GET", "HEAD"):
            origin = headers.get("origin")
            if origin is not None and origin not in {f"http://{host}", f"https://{host}"}:
                await self._refuse(scope, receive, send, 403, "cross-site request refused")
                return
        cookie = _cookie(headers, CSRF_COOKIE)
        fresh = cookie is None or len(cookie) != 43
        if fresh:
            cookie = secrets.token_urlsafe(32)
        scope.setdefault("state", {})["csrf"] = self.token(cookie)  # type: ignore[arg-type]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    out[name] = value
                if fresh:
                    out.append("set-cookie", f"{CSRF_COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict")
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, why: str) -> None:
        response = PlainTextResponse(why, status_code=status, headers=SECURITY_HEADERS)
        await response(scope, receive, send)


async def read_form(request: Request) -> dict[str, str]:
    """A POSTed form's fields (the first value of each), once its CSRF token is checked: 403 without the token of
    this browser's page, 413 past :data:`MAX_FORM_BYTES`, 415 for anything but a URL-encoded form."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise HTTPException(415, "a form is expected")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "form too long")
    fields = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
    expected = getattr(request.state, "csrf", "")
    if not expected or not hmac.compare_digest(fields.get("csrf", ""), expected) or not _cookie(request.headers, CSRF_COOKIE):
        raise HTTPException(403, "this page has expired: reload it and try again")
    return fields
