"""Keep API keys, and credentials in URLs, out of everything we write: logs, transcripts, run folders, reports, the
response cache."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

_known: set[str] = set()
_REDACTED = "[redacted]"
#: credentials in a URL, ``scheme://user:password@host``: everything between ``://`` and ``@``
_USERINFO = re.compile(r"://[^/\s@\"'<>]+@")


def remember(secret: str | None) -> None:
    """Mark a value as secret so that :func:`redact` removes it from any text."""
    if secret and len(secret) >= 6:
        _known.add(secret)


def remember_url_credentials(text: str) -> None:
    """Mark the passwords in the URLs of ``text`` (a spec's ``base_url``) as secret, wherever they turn up."""
    for match in _USERINFO.finditer(text):
        remember(match.group()[3:-1].partition(":")[2])


def redact(text: str) -> str:
    """Text with every remembered secret, and the credentials in every URL, replaced by ``[redacted]``."""
    text = _USERINFO.sub(f"://{_REDACTED}@", text)
    for secret in _known:
        if secret in text:
            text = text.replace(secret, _REDACTED)
    return text


def redact_json(text: str, indent: int | None = None) -> str:
    """JSON text with every string in it (keys too) redacted; returned untouched when nothing in it needs it.

    Strings are redacted after parsing, never in the encoded text, where a replacement could split an escape.
    """
    if not (_USERINFO.search(text) or any(s in text or json.dumps(s)[1:-1] in text for s in _known)):
        return text
    separators = None if indent is not None else (",", ":")
    return json.dumps(_redact_value(json.loads(text)), ensure_ascii=False, indent=indent, separators=separators)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redact_value(v) for v in value]
    if isinstance(value, dict):
        return {redact(k): _redact_value(v) for k, v in value.items()}
    return value


def load_dotenv_file(path: Path | None = None) -> None:
    """Read ``.env`` from the working directory without overriding the real environment."""
    load_dotenv(path or Path.cwd() / ".env", override=False)


def env_secret(name: str) -> str | None:
    """An environment variable that holds a secret, remembered so that :func:`redact` removes it; None when it is
    unset."""
    value = os.environ.get(name)
    remember(value)
    return value
