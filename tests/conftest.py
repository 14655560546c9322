"""Shared fixtures: an isolated working folder and cache, a loopback OpenAI-compatible server, and the command run
in a subprocess or in this process."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from oversight.cli import main
from oversight.loopback import LoopbackServer

API_KEY = "sk-test-5f1c0a9e7d3b42c8a6e1"


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder with a private response cache and no inherited endpoint settings; roles the command
    leaves unbound get the scripted agents (the embedded model has tests of its own)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OVERSIGHT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OVERSIGHT_MODEL", "scripted/auto")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return tmp_path


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop per test module, so a model loaded by a module-scoped backend serves all its tests."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@contextmanager
def hub_offline() -> Iterator[None]:
    """HF_HUB_OFFLINE=1 while a model loads (loading must never need the model hub), as it was set before after."""
    before = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HF_HUB_OFFLINE")
        else:
            os.environ["HF_HUB_OFFLINE"] = before


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(api_key=API_KEY) as srv:
        yield srv


@pytest.fixture
def openai_env(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch, workdir: Path) -> dict[str, str]:
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    return dict(os.environ)


def oversight(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> CliResult:
    """The installed command, in a subprocess, exactly as a user runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "oversight", *args],
        capture_output=True,
        text=True,
        env=env if env is not None else dict(os.environ),
        cwd=cwd,
        timeout=300,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def oversight_in_process(*args: str, env: Mapping[str, str] | None = None) -> CliResult:
    """The command run in this process through ``main``, the installed command's entry point: the same one-line
    errors and exit codes, without starting an interpreter. For what a process of its own adds nothing to (bad
    input, --help, listings, reading a run); ``env`` sets variables for this call only."""
    with _as_a_fresh_process(), CliRunner().isolation(env=env) as (stdout, stderr, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        sys.stdout.flush()
        sys.stderr.flush()
        return CliResult(code, stdout.getvalue().decode(), stderr.getvalue().decode())


@contextmanager
def _as_a_fresh_process() -> Iterator[None]:
    """Lets ``main`` set up logging as in a fresh process (onto the call's own stderr), and afterwards puts back
    what it sets for the whole process: signal handlers, log levels and handlers, variables read from a .env file."""
    root, ours = logging.getLogger(), logging.getLogger("oversight")
    handlers, root_level, our_level = root.handlers[:], root.level, ours.level
    handlers_of = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    environ = dict(os.environ)
    root.handlers = []
    try:
        yield
    finally:
        root.handlers = handlers
        root.setLevel(root_level)
        ours.setLevel(our_level)
        for sig, handler in handlers_of.items():
            signal.signal(sig, handler)
        os.environ.clear()
        os.environ.update(environ)


def scripted_tournament(name: str, limit: int, protocols: list[str], judges: dict[str, str]) -> str:
    """A tournament config of one round between the scripted honest quoter and the scripted liar, in front of
    ``judges`` (name → spec)."""
    listed = ", ".join(f'"{p}"' for p in protocols)
    judge_tables = "".join(f'\n[[judges]]\nname = "{n}"\nmodel = "{spec}"\n' for n, spec in judges.items())
    return (
        f'name = "{name}"\nlimit = {limit}\nprotocols = [{listed}]\n\n[settings]\nrounds = 1\n\n'
        '[[players]]\nname = "quoter"\nmodel = "scripted/debater"\n\n'
        '[[players]]\nname = "inventor"\nmodel = "scripted/liar"\n' + judge_tables
    )


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


HTTP_ROLES = ("--role", "debater_a=openai/debater", "--role", "debater_b=openai/debater", "--judge", "openai/judge")
