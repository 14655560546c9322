"""Where the app listens: 127.0.0.1 unless told otherwise, and never beyond this machine without
``--allow-remote``, which prints a warning."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from oversight.errors import UserError
from oversight.web.security import allowed_hosts



class RunServer(uvicorn.Server):
    """uvicorn's server, leaving Ctrl-C and SIGTERM to the command (a judging run stops its games and keeps every
    record; ``serve`` stops at once)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Capture nothing: the command's own handlers stay in place."""
        yield


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Listener:
    """A bound socket, and what the app needs to know of it."""

    socket: socket.socket
    host: str
    port: int
    #: the host names requests may name (None: any, when serving beyond this machine)
    hosts: frozenset[str] | None
    remote: bool

    @property
    def url(self) -> str:
        """The address to open, without a trailing slash."""
        host = socket.gethostname() if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def server(self, app: ASGIApp) -> RunServer:
        """A server for ``app`` on this socket, logging only warnings, trusting no proxy headers."""
        config = uvicorn.Config(
            app, lifespan="off", log_config=None, log_level="warning", access_log=False, proxy_headers=False,
            server_header=False, date_header=False, timeout_graceful_shutdown=5,
        )
        return RunServer(config)


def listen(host: str, port: int, allow_remote: bool) -> Listener:
    """Bind ``host``:``port`` (0: any free port); UserError when the host is beyond this machine without
    ``allow_remote``, or the port cannot be had."""
    remote = not _loopback(host)
    if remote and not allow_remote:
        raise UserError(f"--host {host}: serving beyond this machine needs --allow-remote")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise UserError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})") from None
    sock.set_inheritable(True)
    bound = sock.getsockname()[1]
    return Listener(sock, host.strip("[]"), bound, allowed_hosts(host.strip("[]"), bound, remote), remote)
