"""What code made a run, for ``run.json``: the package's git revision and the versions of the packages that
shape results."""

from __future__ import annotations

import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

#: packages whose version can change what a model says or how it is asked
RESULT_SHAPING = ("openai", "xllamacpp", "transformers", "torch")


def package_versions() -> dict[str, str]:
    """The installed version of each result-shaping package, by name; packages not installed are left out."""
    found = {}
    for name in RESULT_SHAPING:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def git_revision() -> str | None:
    """The commit the package's source is checked out at; None outside a git checkout (an installed wheel)."""
    source = Path(__file__).resolve().parent
    try:
        # a wheel installed inside some other checkout (a venv in a project folder) is not that project's code
        _git(source, "ls-files", "--error-unmatch", "__init__.py")
        return _git(source, "rev-parse", "HEAD") or None
    except (OSError, subprocess.SubprocessError):
        return None


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True, text=True, timeout=10)
    return done.stdout.strip()
