"""oversight: run scalable-oversight protocols between LLM agents and a judge, and score what happened."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("oversight-sim")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
