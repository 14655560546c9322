"""Keep API keys out of everything we write: logs, transcripts, run folders, reports."""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import load_dotenv

_known: set[str] = set()
_REDACTED = "[redacted]"


def remember(secret: str | None) -> None:
    """Mark a value as secret so that :func:`redact` removes it from any text."""
    if secret and len(secret) >= 6:
        _known.add(secret)


def redact(text: str) -> str:
    for secret in _known:
        if secret in text:
            text = text.replace(secret, _REDACTED)
    return text


def load_dotenv_file(path: Path | None = None) -> None:
    """Read ``.env`` from the working directory without overriding the real environment."""
    load_dotenv(path or Path.cwd() / ".env", override=False)


def env_secret(name: str) -> str | None:
    value = os.environ.get(name)
    remember(value)
    return value
