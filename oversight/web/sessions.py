"""The judges of a web judging session, kept in the run folder as ``judges.json``.

There are no accounts. Each judge has a place: a number, the games assigned to it, a name once someone takes it,
and a random token (``secrets.token_urlsafe(32)``) that is the place's credential: the invite link
``/join/<token>`` opens it, and the browser keeps it in an ``HttpOnly`` cookie. Someone who signs in with a name
instead takes the first place nobody has taken yet, and that place gets a new token, since its printed link may
already be in someone else's hands; the page then shows the new link to come back with. Names are unique (in any
case). The file is written atomically, readable by its owner only, and read back when the same command is run
again, so invite links stay valid across a stop and a resume. Records name a judge by name, never by token.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
from pathlib import Path

from pydantic import BaseModel, Field

from oversight.errors import UserError

PANEL_FILE = "judges.json"
PANEL_SCHEMA_VERSION = 1
NAME_MAX = 40
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def new_token() -> str:
    """A fresh place token: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


class JudgePlace(BaseModel):
    """One judge's place in the session."""

    #: 1, 2, …: how the command's invite links and the operator name it
    number: int
    token: str
    #: the name the judge signed in with; None until someone takes the place
    name: str | None = None
    #: the stored game ids assigned to it, in the order they are shown
    games: list[str]


class JudgePanel(BaseModel):
    """Every place of a session (what ``judges.json`` holds)."""

    schema_version: int = PANEL_SCHEMA_VERSION
    places: list[JudgePlace] = Field(default_factory=list)

    @classmethod
    def for_games(cls, assignments: list[list[str]], previous: JudgePanel | None) -> JudgePanel:
        """A panel for these assignments, keeping the tokens and names of ``previous`` (the run folder's, from an
        earlier attempt) when it assigned the same games; fresh tokens otherwise."""
        if previous is not None and [p.games for p in previous.places] == assignments:
            return previous
        return cls(places=[JudgePlace(number=i + 1, token=new_token(), games=g) for i, g in enumerate(assignments)])

    @classmethod
    def read(cls, folder: Path) -> JudgePanel | None:
        """The panel in a run folder, or None when it has none; UserError when it is unreadable."""
        path = folder / PANEL_FILE
        if not path.is_file():
            return None
        try:
            return cls.model_validate_json(path.read_bytes())
        except ValueError:
            raise UserError(f"{path}: unreadable list of judges; remove it to issue new invite links") from None

    def write(self, folder: Path) -> None:
        """Replace ``judges.json`` in ``folder`` at once, readable by its owner only (it holds the tokens)."""
        path = folder / PANEL_FILE
        tmp = path.with_name(f".{path.name}.tmp")
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(self.model_dump_json(indent=2))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def by_token(self, token: str | None) -> JudgePlace | None:
        """The place whose token this is (compared in constant time), or None."""
        if not token:
            return None
        found = None
        for place in self.places:
            if hmac.compare_digest(place.token.encode(), token.encode()):
                found = place
        return found

    def taken(self, name: str) -> bool:
        """Whether a judge already signed in with this name (in any case)."""
        return any(p.name is not None and p.name.casefold() == name.casefold() for p in self.places)

    def free_place(self) -> JudgePlace | None:
        """The first place nobody has taken, or None."""
        return next((p for p in self.places if p.name is None), None)

    def take(self, place: JudgePlace, name: str, *, new_link: bool) -> None:
        """``name`` takes ``place``; ``new_link`` gives it a fresh token (a sign-in by name)."""
        place.name = name
        if new_link:
            place.token = new_token()


def clean_name(text: str) -> str:
    """A judge's name as given, spaces collapsed; ValueError (with what to fix) when it is empty, too long or holds
    control characters."""
    name = " ".join(text.split())
    if not name:
        raise ValueError("type a name")
    if len(name) > NAME_MAX:
        raise ValueError(f"a name is at most {NAME_MAX} characters")
    if _CONTROL.search(name):
        raise ValueError("a name cannot hold control characters")
    return name
