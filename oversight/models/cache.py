"""The response cache: SQLite, shared by every task of a run and by concurrent processes.

A hit makes no request. Keys are sha256 over canonical JSON of everything that decides a response, so changing
the model, endpoint, prompt, settings or sample index is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from oversight.models.base import ChatMessage, Completion, GenerationSettings

CACHE_ENV = "OVERSIGHT_CACHE_DIR"


def default_cache_dir() -> Path:
    if env := os.environ.get(CACHE_ENV):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "oversight"


def cache_key(
    identity: dict[str, Any], messages: list[ChatMessage], settings: GenerationSettings, sample: int
) -> str:
    payload = {
        "identity": identity,
        "messages": [m.model_dump() for m in messages],
        "settings": settings.model_dump(mode="json"),
        "sample": sample,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResponseCache:
    """Reads and writes are short synchronous statements; WAL mode lets two processes share the file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, completion TEXT NOT NULL)")

    def get(self, key: str) -> Completion | None:
        row = self._db.execute("SELECT completion FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        completion = Completion.model_validate_json(row[0])
        return completion.model_copy(update={"cached": True})

    def put(self, key: str, completion: Completion) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO responses (key, completion) VALUES (?, ?)",
            (key, completion.model_dump_json(exclude={"cached"})),
        )

    def close(self) -> None:
        self._db.close()
