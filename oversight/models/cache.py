"""The response cache: SQLite, shared by every task of a run and by concurrent processes.

A hit makes no request. Keys are sha256 over canonical JSON of everything that decides a response, so changing
the model, endpoint, prompt, settings or sample index is a miss. The request behind each key is kept too (also for
backends whose responses are not cached), so a record's calls can show what they sent. A row that cannot be read
is a miss, and the fresh response replaces it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random

from oversight.errors import FatalRunError
from oversight.models.base import ChatMessage, Completion, GenerationSettings
from oversight.secrets import redact_json

CACHE_ENV = "OVERSIGHT_CACHE_DIR"
CACHE_FILE = "responses.sqlite"
#: the schema, one statement per version (``PRAGMA user_version``); a file is brought up to date when opened
_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, completion TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS requests (key TEXT PRIMARY KEY, request TEXT NOT NULL)",
)


def cache_dir(override_env: str, *parts: str) -> Path:
    """Where oversight keeps one kind of cached file: the folder the variable ``override_env`` names, else ``parts``
    under ``$XDG_CACHE_HOME/oversight`` (``~/.cache/oversight`` when ``XDG_CACHE_HOME`` is unset)."""
    if env := os.environ.get(override_env):
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "oversight", *parts)


def default_cache_dir() -> Path:
    """The response cache's folder (``OVERSIGHT_CACHE_DIR`` moves it)."""
    return cache_dir(CACHE_ENV)


def default_cache_path() -> Path:
    """The response cache's SQLite file."""
    return default_cache_dir() / CACHE_FILE


class StoredRequest(BaseModel):
    """What a call sent, kept under its key."""

    schema_version: int = 1
    messages: list[ChatMessage]
    settings: GenerationSettings
    sample: int = 0


def cache_key(
    identity: dict[str, Any], messages: list[ChatMessage], settings: GenerationSettings, sample: int
) -> str:
    """The key of a request: sha256 over canonical JSON of everything that decides its response."""
    payload = {
        "identity": identity,
        "messages": [m.model_dump() for m in messages],
        "settings": settings.model_dump(mode="json"),
        "sample": sample,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


class ResponseCache:
    """Reads and writes are short synchronous statements; WAL mode lets two processes share the file.

    A file that cannot be opened, read or written stops the run with one line naming it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
            # switching a new file to WAL while another process does the same can fail at once with "database is
            # locked" (SQLite skips the busy handler there): that first setup is tried again for a while
            for attempt in Retrying(
                retry=retry_if_exception(_locked), stop=stop_after_delay(30), wait=wait_random(0.05, 0.5), reraise=True
            ):
                with attempt:
                    self._set_up()
        except (OSError, sqlite3.Error) as exc:
            raise self._unusable(exc) from None

    def _set_up(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        for number, statement in enumerate(_MIGRATIONS[version:], start=version + 1):
            self._db.execute(statement)  # idempotent, so two processes may migrate the same file at once
            self._db.execute(f"PRAGMA user_version = {number}")

    def _unusable(self, exc: OSError | sqlite3.Error) -> FatalRunError:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return FatalRunError(
            f"{self.path}: the response cache cannot be used ({reason}); run with --no-cache, "
            "or delete the file to start a new cache"
        )

    def _execute(self, statement: str, parameters: tuple[str, ...]) -> sqlite3.Cursor:
        try:
            return self._db.execute(statement, parameters)
        except sqlite3.Error as exc:
            raise self._unusable(exc) from None

    def get(self, key: str) -> Completion | None:
        """The stored response under ``key``, marked cached; None when there is none or it cannot be read."""
        row = self._execute("SELECT completion FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            completion = Completion.model_validate_json(row[0])
        except ValidationError:
            return None  # a damaged row: asked again, and replaced by put()
        return completion.model_copy(update={"cached": True})

    def put(self, key: str, completion: Completion) -> None:
        """Store a response under ``key``, replacing any before it."""
        self._execute(
            "INSERT OR REPLACE INTO responses (key, completion) VALUES (?, ?)",
            (key, redact_json(completion.model_dump_json(exclude={"cached"}))),
        )

    def put_request(self, key: str, request: StoredRequest) -> None:
        """Keep what a call sent under its key (the first time only: the same key means the same request)."""
        self._execute(
            "INSERT OR IGNORE INTO requests (key, request) VALUES (?, ?)", (key, redact_json(request.model_dump_json()))
        )

    def request(self, key: str) -> StoredRequest | None:
        """What the call under ``key`` sent, if it was kept and can be read."""
        row = self._execute("SELECT request FROM requests WHERE key = ?", (key,)).fetchone()
        try:
            return StoredRequest.model_validate_json(row[0]) if row is not None else None
        except ValidationError:
            return None

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()
