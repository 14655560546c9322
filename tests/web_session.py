"""What the web tests share: a stored run, the judging command in a subprocess read as it prints, and headless
Chromium (the system's: the test machines cannot download Playwright's own)."""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import oversight

__all__ = ["Browser", "Command", "Page", "chromium", "scripted_env", "store_debates"]

#: how long a step may take before a test gives up on it (a deadline, never a timed assertion)
DEADLINE = 120.0


def scripted_env(where: Path) -> dict[str, str]:
    """The environment of a command run in ``where``: a private cache, scripted agents, no endpoint settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return env | {"OVERSIGHT_CACHE_DIR": str(where / "cache"), "OVERSIGHT_MODEL": "scripted/auto"}


def store_debates(
    where: Path, env: dict[str, str], *roles: str, protocol: str = "debate", limit: int = 3, rounds: int = 1
) -> Path:
    """``where/stored``: a ``protocol`` run of ``limit`` items (default: a debate of 3 items) in both seatings, of
    ``rounds`` rounds, with ``--role`` bindings ``roles``."""
    bound = [arg for role in roles for arg in ("--role", role)]
    result = oversight(
        "run", protocol, "--limit", str(limit), "--rounds", str(rounds), *bound, "--out", "stored", env=env, cwd=where
    )
    assert result.returncode == 0, result.stderr
    return where / "stored"


class Command:
    """An ``oversight`` command in a subprocess, its output read line by line as it comes."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "oversight", *args], cwd=cwd, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr or []), daemon=True).start()

    def __enter__(self) -> Command:
        return self

    def __exit__(self, *exc: object) -> None:
        """A command a failing test leaves running is killed, so no server outlives its test."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _read(self) -> None:
        for line in self.proc.stdout or []:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: str) -> re.Match[str]:
        """The first line (from now on) matching ``pattern``, waiting for it up to the deadline."""
        end = time.monotonic() + DEADLINE
        while (left := end - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if found := re.search(pattern, line):
                return found
        pytest.fail(f"no line matching {pattern!r}; output so far:\n{''.join(self.seen)}\n{''.join(self.stderr)}")

    def invites(self, judges: int) -> tuple[str, list[str]]:
        """The judging address and the invite links, as ``oversight judge --judge web`` prints them."""
        url = self.wait_for(r"judging at (http://\S+?)/ ").group(1)
        self.wait_for(r"invite links")
        return url, [self.wait_for(r"judge \d+: (http://\S+)").group(1) for _ in range(judges)]

    def finish(self) -> int:
        """The exit code, once the command ends (up to the deadline)."""
        try:
            return self.proc.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail("the command did not end: " + "".join(self.stderr))


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Chromium; a missing one fails the test with how to install it."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is not installed: `apt-get install chromium` (the web tests need headless Chromium)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=binary, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield launched
        finally:
            launched.close()
