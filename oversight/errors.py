"""Errors the CLI turns into one line on stderr and exit code 2."""


class UserError(Exception):
    """Bad input from the user: an unknown name, a malformed file, a broken config.

    The message must say what is wrong and where, in one line.
    """


class FatalRunError(UserError):
    """Raised inside a game for a problem no other game can avoid either
    (a rejected API key, an unknown model, a broken template): the run stops."""
