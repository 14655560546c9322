"""Errors the CLI turns into one line on stderr and exit code 2."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class UserError(Exception):
    """Bad input from the user: an unknown name, a malformed file, a broken config.

    The message must say what is wrong and where, in one line.
    """


class FatalRunError(UserError):
    """Raised inside a game for a problem no other game can avoid either
    (a rejected API key, an unknown model, a broken template): the run stops."""


def unreadable_record(where: str, run: Path, reason: str | None = None) -> UserError:
    """A line of ``run``'s transcript log that is not a game record (``where``: the file and line), and the way out."""
    detail = f" ({reason})" if reason else ""
    return UserError(
        f"{where}: not a game record{detail}; run 'oversight repair {run}' to drop the unreadable lines "
        "and keep every whole game"
    )


def first_error(exc: ValidationError, *, whole: str = "", quoted: bool = False) -> str:
    """The first problem a validation found, as one line ``where: what``.

    ``where`` is the dotted path of the field at fault (``field 'where'`` when ``quoted``), or ``whole`` when the
    problem is with the object as a whole; without either, the line is ``what`` alone. ``what`` is pydantic's
    message, without the "Value error, " it puts before what our own validators say.
    """
    err = exc.errors()[0]
    where = ".".join(str(part) for part in err["loc"]) or whole
    what = err["msg"].removeprefix("Value error, ")
    if not where:
        return what
    return f"field {where!r}: {what}" if quoted else f"{where}: {what}"
