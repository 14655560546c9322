"""Defaults that several parts of the engine agree on."""

import os
from pathlib import Path

RESULTS_DIR = Path("results")
#: the embedded model: runs offline on a laptop CPU (see ``oversight models``)
EMBEDDED_MODEL = "llamacpp/qwen2.5-coder-1.5b"
#: names the model every role gets when a command names none (e.g. ``scripted/auto`` for a dry run)
MODEL_ENV = "OVERSIGHT_MODEL"


def default_role_spec(role: str) -> str:
    """The model a role gets when the command names none."""
    return os.environ.get(MODEL_ENV) or EMBEDDED_MODEL
