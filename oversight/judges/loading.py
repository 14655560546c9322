"""From ``--judge`` values to a judge: a model spec, ``human``, a plug-in, or several of them together."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Any

from oversight.errors import UserError
from oversight.judges.base import Judge, PluginJudge
from oversight.judges.ensemble import SEPARATOR, EnsembleJudge
from oversight.judges.llm import LLMJudge
from oversight.models import BACKENDS, ModelSpec
from oversight.registry import Registry, load_object

#: judges by name; plug-ins register under the entry-point group ``oversight.judges``
JUDGES = Registry(
    "oversight.judges", "judge",
    builtins={"human": "oversight.judges.human:HumanJudge", "web": "oversight.judges.web:WebJudge"},
)

_MODULE_ATTR = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def _from_file(spec: str) -> Any:
    path_text, _, attr = spec.rpartition(":")
    path = Path(path_text)
    if not path.is_file():
        raise UserError(f"--judge {spec}: no file {path}")
    module_name = f"oversight_judge_{abs(hash(path.resolve()))}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise UserError(f"--judge {spec}: cannot load {path} as Python")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:  # the user's file: report it in one line
        raise UserError(f"--judge {spec}: {path} failed to load ({type(exc).__name__}: {exc})") from None
    if not hasattr(module, attr):
        raise UserError(f"--judge {spec}: {path} has no {attr!r}")
    return getattr(module, attr)


def _from_module(spec: str) -> Any:
    """``module:attr``, importable from the working folder as from ``python -m`` (the installed command's path
    does not hold the working folder)."""
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return load_object(spec)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"--judge {spec}: cannot import ({exc})") from None
    except Exception as exc:  # the user's module: report it in one line
        raise UserError(f"--judge {spec}: failed to load ({type(exc).__name__}: {exc})") from None
    finally:
        if added:
            sys.path.remove(cwd)


def _adapt(target: Any, name: str) -> Judge:
    if isinstance(target, type):
        target = target()
    if isinstance(target, Judge):
        return target
    if callable(getattr(target, "decide", None)) or callable(target):
        return PluginJudge(target, name)
    raise UserError(f"--judge {name}: {type(target).__name__} has no decide(view) and is not callable")


def load_judge(spec: str) -> Judge:
    """The judge a ``--judge`` value names: judges joined by `` + `` (an ensemble), a registered name (``human``),
    ``file.py:attr``, a model spec (``PROVIDER/NAME``) or ``module:attr``; anything else is a user error."""
    if SEPARATOR in spec:
        return EnsembleJudge([load_judge(part.strip()) for part in spec.split(SEPARATOR)])
    if spec in JUDGES.names():
        return _adapt(JUDGES.get(spec), spec)
    if ".py:" in spec:
        return _adapt(_from_file(spec), spec)
    if "/" in spec:
        BACKENDS.get(ModelSpec.parse(spec).provider)  # an unknown provider is reported here
        return LLMJudge(spec)
    if _MODULE_ATTR.fullmatch(spec):
        return _adapt(_from_module(spec), spec)
    raise UserError(
        f"--judge {spec!r}: not a model spec (PROVIDER/NAME), a judge name ({', '.join(JUDGES.names())}), "
        "module:attribute or path/to/file.py:attribute"
    )
