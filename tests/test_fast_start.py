"""A quick start: the command and the engine load without the heavy libraries, which only the code that uses them
imports (a command that lists protocols should not wait a second for scipy or torch)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: libraries that take from a tenth of a second to several seconds to import
HEAVY = ("scipy", "torch", "transformers", "xllamacpp", "sklearn", "matplotlib")
#: rich's parts for live progress and tables, needed only once something is drawn
RICH_DRAWING = ("rich.progress", "rich.table", "rich.tree", "rich.syntax", "rich.markdown")


def _loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def _heavy(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == name or m.startswith(name + ".") for name in names))


@pytest.mark.parametrize("module", ["oversight.runner", "oversight.cli"])
def test_importing_leaves_the_heavy_libraries_unloaded(module: str) -> None:
    loaded = _loaded_after(f"import {module}")
    assert not _heavy(loaded, HEAVY + RICH_DRAWING)


def test_listing_the_protocols_leaves_the_heavy_libraries_unloaded() -> None:
    code = (
        "import contextlib, io\nfrom oversight.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n    main(['protocols'])"
    )
    assert not _heavy(_loaded_after(code), HEAVY)
