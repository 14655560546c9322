"""The built-in protocol families, one folder each: ``oversight.protocols.<family>``.

Their source lives in the repository's top-level ``protocols/`` folder. The wheel puts that folder here (see
``hatch_build.py``); in a source checkout or an editable install it is added to this package's path, so the
families import under the same name either way and nothing installs a top-level ``protocols`` module.
Families register their protocols, scripted players and tasks as entry points in ``pyproject.toml``, like
any plug-in.
"""

from pathlib import Path

_checkout = Path(__file__).resolve().parents[2]
# a source checkout is recognised by its project file, so a stray site-packages/protocols is never picked up
if (_checkout / "pyproject.toml").is_file() and (_checkout / "protocols").is_dir():
    __path__.append(str(_checkout / "protocols"))
