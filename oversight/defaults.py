"""Defaults that several parts of the engine agree on."""

from pathlib import Path

RESULTS_DIR = Path("results")


def default_role_spec(role: str) -> str:
    """The model a role gets when the command names none."""
    return "scripted/judge" if role == "judge" else "scripted/debater"
