"""The transformers backend on the real SmolLM2-135M GGUF: generation, dynamic batching, logprobs, load errors."""

from __future__ import annotations

import asyncio
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
    Completion,
    GenerationSettings,
    ModelSpec,
)
from oversight.verdicts import parse_verdict
from oversight.weights import MODELS_DIR_ENV, resolve_gguf

pytest.importorskip("torch", reason="the local backend needs torch (pip install torch==2.13.0)")
pytest.importorskip("transformers", reason="the local backend needs transformers")

from oversight.models.local import LocalBackend

from .conftest import hub_offline

SPEC = "local/smollm2-135m"
JUDGE = [
    ChatMessage(role="system", content="You answer multiple-choice questions."),
    ChatMessage(role="user", content="Which number is larger? A) 3  B) 5\nReply with the letter only."),
]
PROMPTS = [
    "Name a colour.",
    "What is the capital of France? Explain in detail.",
    "Write two lines about the sea.",
    "Why is the sky blue?",
    "List three fruits, one per line.",
    "What is 2+2?",
]


@pytest.fixture(scope="module")
def backend(loop: asyncio.AbstractEventLoop) -> Iterator[ReliableBackend]:
    with hub_offline():
        backend = create_backend(SPEC, BackendOptions(max_connections=8))
        yield backend
        loop.run_until_complete(backend.aclose())


def _ask(loop: asyncio.AbstractEventLoop, backend: ReliableBackend, prompt: str, settings: GenerationSettings) -> Completion:
    return loop.run_until_complete(backend.complete([ChatMessage(role="user", content=prompt)], settings, 0))


def test_greedy_generation(loop: asyncio.AbstractEventLoop, backend: ReliableBackend) -> None:
    completion = _ask(loop, backend, PROMPTS[0], GenerationSettings(max_tokens=24))
    assert completion.text.strip()
    assert completion.usage.prompt_tokens > 0 and 0 < completion.usage.completion_tokens <= 24
    assert completion.finish_reason in ("stop", "length")
    assert _ask(loop, backend, PROMPTS[0], GenerationSettings(max_tokens=24)) == completion


def test_batched_equals_one_at_a_time(loop: asyncio.AbstractEventLoop, backend: ReliableBackend) -> None:
    # different prompt lengths (so rows are padded) and different max_tokens and logprobs per row
    settings = [GenerationSettings(max_tokens=16 + 8 * (i % 3), logprobs=i % 2 == 1) for i in range(len(PROMPTS))]
    alone = [_ask(loop, backend, p, s) for p, s in zip(PROMPTS, settings, strict=True)]
    local = backend.backend
    assert isinstance(local, LocalBackend)
    before = local.batch_sizes.copy()

    async def together() -> list[Completion]:
        calls = (backend.complete([ChatMessage(role="user", content=p)], s, 0) for p, s in zip(PROMPTS, settings, strict=True))
        return await asyncio.gather(*calls)

    batched = loop.run_until_complete(together())
    assert max(local.batch_sizes - before) > 1, "concurrent requests never shared a batch"
    for one, many in zip(alone, batched, strict=True):
        assert many.text == one.text
        assert many.usage == one.usage  # padding is not counted
        assert many.finish_reason == one.finish_reason
        assert [t.token for t in many.logprobs or []] == [t.token for t in one.logprobs or []]
        for a, b in zip(many.logprobs or [], one.logprobs or [], strict=True):
            assert a.logprob == pytest.approx(b.logprob, abs=1e-3)


def test_choice_probabilities_sum_to_one(loop: asyncio.AbstractEventLoop, backend: ReliableBackend) -> None:
    settings = GenerationSettings(max_tokens=8, logprobs=True, top_logprobs=5)
    completion = loop.run_until_complete(backend.complete(JUDGE, settings, 0))
    assert completion.logprobs and len(completion.logprobs) == completion.usage.completion_tokens
    for token in completion.logprobs:
        tops = [t.logprob for t in token.top_logprobs]
        assert len(tops) == 5 and tops == sorted(tops, reverse=True)
        assert token.logprob <= tops[0] + 1e-5 and sum(math.exp(v) for v in tops) <= 1 + 1e-5
    verdict = parse_verdict(completion, ["3", "5"])
    assert verdict.source == "logprobs" and verdict.probabilities is not None
    assert sum(verdict.probabilities) == pytest.approx(1.0)


def test_stop_strings_end_the_text(loop: asyncio.AbstractEventLoop, backend: ReliableBackend) -> None:
    completion = _ask(loop, backend, "Count from 1 to 10, separated by commas.", GenerationSettings(max_tokens=40, stop=("5",)))
    assert "5" not in completion.text and completion.finish_reason == "stop"


def test_corrupted_or_missing_weights_are_one_line_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = resolve_gguf("smollm2-135m")
    with pytest.raises(UserError) as exc:
        LocalBackend(ModelSpec.parse(f"local/{tmp_path / 'absent.gguf'}"), BackendOptions())
    assert "absent.gguf" in str(exc.value) and "\n" not in str(exc.value)

    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path))
    copy = tmp_path / "smollm2-135m.gguf"
    shutil.copyfile(original, copy)
    with copy.open("r+b") as f:
        f.seek(1 << 20)
        f.write(b"\x00" * 16)
    with pytest.raises(UserError) as exc:
        LocalBackend(ModelSpec.parse(SPEC), BackendOptions())
    assert "sha256 mismatch" in str(exc.value) and "\n" not in str(exc.value)

    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(original.read_bytes()[: 1 << 20])
    backend = create_backend(f"local/{truncated}", BackendOptions())
    with pytest.raises(FatalRunError) as exc:
        asyncio.run(backend.complete(JUDGE, GenerationSettings(max_tokens=4), 0))
    assert "truncated.gguf" in str(exc.value) and "\n" not in str(exc.value)
