"""Defaults that several parts of the engine agree on."""

import os
import re
from pathlib import Path

RESULTS_DIR = Path("results")
#: the embedded model: runs offline on a laptop CPU (see ``oversight models``)
EMBEDDED_MODEL = "llamacpp/qwen2.5-coder-1.5b"
#: names the model every role gets when a command names none (e.g. ``scripted/auto`` for a dry run)
MODEL_ENV = "OVERSIGHT_MODEL"
#: games ``oversight show RUN`` lists, and games ``oversight report`` gives transcripts of, unless told otherwise:
#: a run may hold 100,000 games, and neither a terminal table nor a web page of them all can be read
SHOWN_GAMES = 200
REPORT_GAMES = 500
#: most model requests in flight at once (``--max-connections``); each lets two games play at once, and far more
#: than any server takes would only hold games and memory
MAX_CONNECTIONS = 4096


def default_role_spec(role: str) -> str:
    """The model a role gets when the command names none."""
    return os.environ.get(MODEL_ENV) or EMBEDDED_MODEL


def default_run_dir(*parts: str) -> Path:
    """``results/<parts joined by '-'>`` as one folder name, whatever the parts hold (a name with ``/`` or ``..``
    in it cannot reach outside ``results/``)."""
    name = re.sub(r"[^\w.]+|\.{2,}", "-", "-".join(parts))
    return RESULTS_DIR / (re.sub(r"-{2,}", "-", name).strip(".-") or "run")
