"""oversight: run scalable-oversight protocols between LLM agents and a judge, and score what happened."""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("oversight-sim")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

__all__ = ["__version__", "load_run"]


def __getattr__(name: str) -> Any:
    """``oversight.load_run`` is imported on first use, so importing the package never loads pandas."""
    if name == "load_run":
        from oversight.dataframe import load_run

        return load_run
    raise AttributeError(f"module 'oversight' has no attribute {name!r}")
