"""The package's layering, read from the source with an ``ast`` walk.

- a protocol never imports a backend, HTTP or a model library; a backend never imports a protocol;
- the engine never imports the CLI;
- a protocol family is one folder: nothing outside it imports or names its modules, and families do not import
  each other;
- no two modules import each other, not even for type hints.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = sorted(p.name for p in (ROOT / "protocols").iterdir() if (p / "__init__.py").is_file())
BACKEND_MODULES = ("oversight.models.openai_backend", "oversight.models.local", "oversight.models.llamacpp",
                   "oversight.models.scripted", "oversight.models.pool", "oversight.models.cache")
MODEL_LIBRARIES = ("openai", "aiohttp", "httpx", "requests", "torch", "transformers", "xllamacpp")


def _module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[0] == "protocols":  # the top-level folder installs as oversight.protocols
        parts.insert(0, "oversight")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


SOURCES = {_module_name(p): p for folder in ("oversight", "protocols") for p in sorted((ROOT / folder).rglob("*.py"))}


def _imports(path: Path, *, top_level_only: bool = False) -> Iterator[str]:
    """Modules a file imports; with ``top_level_only``, those imported when the module loads (and for type hints),
    not the ones a function imports when it runs."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    nodes = _top_level(tree.body) if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            # ``from oversight.protocols import debate`` imports the submodule
            yield from (f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in SOURCES)


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.Try)):  # ``if TYPE_CHECKING:`` and guarded imports
            yield from _top_level(node.body)
            yield from _top_level(node.orelse)
            for handler in getattr(node, "handlers", []):
                yield from _top_level(handler.body)


def _family(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if parts[:2] == ["oversight", "protocols"] and len(parts) > 2 else None


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_there_are_families_to_check() -> None:
    assert {"debate", "ida", "elk"} <= set(FAMILIES)


@pytest.mark.parametrize("module", [m for m in SOURCES if _family(m)])
def test_a_protocol_never_touches_a_backend_or_http(module: str) -> None:
    bad = [name for name in _imports(SOURCES[module]) if _within(name, BACKEND_MODULES + MODEL_LIBRARIES)]
    assert not bad, f"{module} imports {bad}"


@pytest.mark.parametrize("module", [m for m in SOURCES if m.startswith("oversight.models")])
def test_a_backend_never_knows_the_game(module: str) -> None:
    bad = [name for name in _imports(SOURCES[module]) if _within(name, ("oversight.protocols", "oversight.protocol"))]
    assert not bad, f"{module} imports {bad}"


@pytest.mark.parametrize("module", [m for m in SOURCES if m not in ("oversight.cli", "oversight.__main__")])
def test_the_engine_never_imports_the_cli(module: str) -> None:
    assert "oversight.cli" not in set(_imports(SOURCES[module]))


@pytest.mark.parametrize("module", sorted(SOURCES))
def test_a_family_is_reached_only_through_its_folder(module: str) -> None:
    """Outside a family's folder no module imports it or names one of its modules; the engine finds it through
    ``Protocol``'s hooks and the entry points it registers."""
    own = _family(module)
    text = SOURCES[module].read_text()
    for family in FAMILIES:
        if family == own:
            continue
        prefix = f"oversight.protocols.{family}"
        imported = [name for name in _imports(SOURCES[module]) if _within(name, (prefix,))]
        assert not imported, f"{module} imports {imported}"
        assert prefix not in text, f"{module} names {prefix}"


def test_no_two_modules_import_each_other() -> None:
    graph = {
        module: {name for name in _imports(path, top_level_only=True) if name in SOURCES and name != module}
        for module, path in SOURCES.items()
    }
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    # a package importing its own submodules (to re-export them) is not a cycle between two modules
    cycles = [c for c in cycles if not all(c[0].startswith(m + ".") or m == c[0] for m in c[1:-1])]
    assert not cycles, "import cycles: " + "; ".join(" → ".join(c) for c in cycles)


def _public_definitions() -> Iterator[tuple[str, object]]:
    import importlib
    import inspect

    for module_name in sorted(SOURCES):
        if module_name.endswith("__main__"):  # importing it runs the command
            continue
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
                continue
            if inspect.isfunction(obj):
                yield f"{module_name}.{name}", obj
            elif inspect.isclass(obj):
                yield f"{module_name}.{name}", obj
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and (inspect.isfunction(member) or isinstance(member, property)):
                        yield f"{module_name}.{name}.{attr}", getattr(obj, attr)


def test_every_public_class_and_function_says_what_it_is() -> None:
    """A docstring on every public class, function and method; a method may inherit its base's."""
    import inspect

    missing = [name for name, obj in _public_definitions() if not inspect.getdoc(obj)]
    assert not missing, f"{len(missing)} without a docstring: " + ", ".join(missing)
