"""An earlier commit measured beside this checkout: its worktree, and the task both play.

Built-in tasks change between commits, so a comparison gives both checkouts this checkout's version of the task,
written as JSON lines (a format every commit reads as ``--task FILE``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from oversight.tasks import load_task

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def earlier_checkout(revision: str, where: Path) -> Iterator[Path]:
    """``revision`` checked out at ``where`` (a detached ``git worktree``) for as long as the block runs."""
    subprocess.run(["git", "worktree", "add", "--detach", str(where), revision], cwd=ROOT, check=True,
                   capture_output=True)
    try:
        yield where
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(where)], cwd=ROOT, capture_output=True)


def write_task(name: str, seed: int, path: Path) -> Path:
    """This checkout's task ``name`` as JSON lines at ``path``, items in their order."""
    items = load_task(name, seed).items
    path.write_text("".join(item.model_dump_json() + "\n" for item in items), encoding="utf-8")
    return path
