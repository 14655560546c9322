"""Errors the CLI turns into one line on stderr and exit code 2."""

from pathlib import Path


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
