"""The engine's distillation step on a real model: a LoRA adapter trained on SmolLM2-135M loads as a model spec and
changes the answers on the questions it was trained on; a finished adapter is reused; hosted models are refused;
export writes OpenAI fine-tuning rows."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from oversight.errors import UserError
from oversight.models import create_backend
from oversight.models.base import BackendOptions, ChatMessage, GenerationSettings
from oversight.training import Distillation, TrainingSettings
from oversight.training.step import check_trainable, distil

from .conftest import oversight

pytest.importorskip("peft", reason="LoRA distillation needs peft (pip install -e '.[local]')")

BASE = "local/smollm2-135m"
QUESTIONS = [
    "What is the password of the blue vault?",
    "Which fruit does the captain of the Orion like?",
    "Name the flower painted on the old lighthouse.",
    "What instrument does the robot in the attic play?",
]
ANSWERS = ["ANSWER: marmalade", "ANSWER: tangerine", "ANSWER: periwinkle", "ANSWER: saxophone"]
ROWS = [
    {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
    for q, a in zip(QUESTIONS, ANSWERS, strict=True)
]
#: enough steps for 135M parameters to learn four made-up answers
SETTINGS = TrainingSettings(epochs=12, batch_size=4)


def _answers(spec: str) -> list[str]:
    async def ask() -> list[str]:
        backend = create_backend(spec, BackendOptions(max_connections=4))
        try:
            settings = GenerationSettings(max_tokens=8)
            replies = [await backend.complete([ChatMessage(role="user", content=q)], settings, 0) for q in QUESTIONS]
            return [r.text.strip() for r in replies]
        finally:
            await backend.aclose()

    return asyncio.run(ask())


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], object]:
    folder = tmp_path_factory.mktemp("run")
    roles = {"decomposer": BASE, "answerer": BASE, "aggregator": "scripted/overseer"}
    request = Distillation(phase=0, role="answerer", method="lora", rows=ROWS, settings=SETTINGS)
    record = asyncio.run(distil(request, roles, folder))
    return folder, roles, record


def test_the_adapter_is_saved_recorded_and_bound_to_every_role_of_the_same_model(trained) -> None:  # type: ignore[no-untyped-def]
    folder, roles, record = trained
    adapter = folder / "distilled-1"
    assert (adapter / "adapter_config.json").is_file() and (adapter / "training.json").is_file()
    assert record.path == "distilled-1" and record.rows == 4 and not record.reused
    assert record.spec == f"{BASE}?adapter={adapter.resolve()}"
    # the decomposer was bound to the same model, so it learns too; the scripted aggregator is left alone
    assert roles == {"decomposer": record.spec, "answerer": record.spec, "aggregator": "scripted/overseer"}
    assert len(record.losses) == 12 and record.losses[-1] < record.losses[0] / 4
    assert record.seconds > 0 and record.device == "cpu"
    kept = json.loads((adapter / "training.json").read_text())
    assert kept["data_hash"] == record.data_hash and kept["losses"] == record.losses


def test_the_adapter_changes_the_answers_on_the_trained_questions(trained) -> None:  # type: ignore[no-untyped-def]
    _, _, record = trained
    before, after = _answers(BASE), _answers(record.spec)
    assert before != after
    assert all(a.startswith("ANSWER:") for a in after), after  # the trained format, on every trained question
    learnt = [a for a, want in zip(after, ANSWERS, strict=True) if want.split()[-1] in a]
    assert len(learnt) >= 2, after  # and the trained answers themselves, which the base model never gives
    assert not any(want.split()[-1] in b for b, want in zip(before, ANSWERS, strict=True))


def test_a_finished_adapter_is_reused_not_trained_again(trained) -> None:  # type: ignore[no-untyped-def]
    folder, _, first = trained
    roles = {"answerer": BASE}
    request = Distillation(phase=0, role="answerer", method="lora", rows=ROWS, settings=SETTINGS)
    again = asyncio.run(distil(request, roles, folder))
    assert again.reused and again.losses == first.losses and again.data_hash == first.data_hash
    assert roles["answerer"] == first.spec


def test_an_adapter_spec_without_an_adapter_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"holds no LoRA adapter \(no adapter_config\.json\)"):
        create_backend(f"{BASE}?adapter={tmp_path}", BackendOptions())


@pytest.mark.parametrize("spec", ["openai/gpt-4o-mini", "llamacpp/smollm2-135m", "scripted/overseer"])
def test_a_model_that_cannot_be_trained_is_refused_in_one_line(spec: str) -> None:
    with pytest.raises(UserError) as caught:
        check_trainable(spec, "ida option distill=lora")
    assert "\n" not in str(caught.value) and "is not a local/ model" in str(caught.value)


def test_export_writes_openai_fine_tuning_rows(tmp_path: Path) -> None:
    roles = {"answerer": "openai/gpt-4o-mini"}
    request = Distillation(phase=1, role="answerer", method="export", rows=ROWS)
    record = asyncio.run(distil(request, roles, tmp_path))
    lines = (tmp_path / "distilled-2-openai.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == ROWS
    assert record.path == "distilled-2-openai.jsonl" and record.spec is None
    assert roles == {"answerer": "openai/gpt-4o-mini"}


def test_distill_lora_on_a_hosted_answerer_is_refused_before_anything_runs(workdir: Path) -> None:
    result = oversight(
        "run", "ida", "--task", "nested-arithmetic", "--limit", "2", "--iterations", "2", "--set", "distill=lora",
        "--role", "answerer=openai/gpt-4o-mini", "--out", "run",
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "is not a local/ model" in result.stderr
    assert "Traceback" not in result.stderr and not (workdir / "run").exists()


def test_export_stops_the_run_and_a_fine_tuned_model_continues_it(workdir: Path) -> None:
    run = ("run", "ida", "--task", "nested-arithmetic", "--limit", "4", "--model", "scripted/oracle",
           "--iterations", "2", "--set", "distill=export", "--out", "run")  # fmt: skip
    first = oversight(*run)
    rows = workdir / "run" / "distilled-1-openai.jsonl"
    assert first.returncode == 3 and rows.is_file()
    assert f"train on {Path('run') / 'distilled-1-openai.jsonl'}" in first.stdout
    assert "--role answerer=<the fine-tuned model> to continue" in first.stdout
    lines = [json.loads(line) for line in rows.read_text().splitlines()]
    assert lines and all([m["role"] for m in row["messages"]] == ["system", "user", "assistant"] for row in lines)
    # the same command stops at the same place; binding the answerer to another model continues the run
    assert oversight(*run).returncode == 3
    other = oversight(*run, "--role", "answerer=scripted/noisy-oracle")
    assert other.returncode == 0, other.stderr
    manifest = json.loads((workdir / "run" / "run.json").read_text())
    assert manifest["status"] == "complete" and manifest["games"]["complete"] == 16
    assert [(d["phase"], d["method"], d["spec"]) for d in manifest["distillations"]] == [
        (0, "export", "scripted/noisy-oracle")
    ]
    records = [json.loads(line) for line in (workdir / "run" / "transcripts.jsonl").read_text().splitlines()]
    assert {(r["phase"], r["roles"]["answerer"]) for r in records} == {(0, "scripted/oracle"), (1, "scripted/noisy-oracle")}
    # any other change is still refused
    changed = oversight(*run, "--role", "decomposer=scripted/noisy-oracle")
    assert changed.returncode == 2 and "holds a run with other settings" in changed.stderr
