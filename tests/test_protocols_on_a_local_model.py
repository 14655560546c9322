"""Every protocol family end to end on a real local model (SmolLM2-135M through llama.cpp): whatever a tiny
model writes, each game finishes with a record, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import oversight, read_lines

pytest.importorskip("xllamacpp", reason="the llamacpp backend needs xllamacpp")

MODEL = "llamacpp/smollm2-135m"
DEBATE_FAMILY = ["debate", "interactive-debate", "open-debate", "consultancy", "open-consultancy", "blind", "expert"]


@pytest.mark.parametrize("protocol", DEBATE_FAMILY)
def test_debate_family_on_a_local_model(workdir: Path, protocol: str) -> None:
    result = oversight("run", protocol, "--limit", "1", "--rounds", "2", "--model", MODEL, "--set", "max_tokens=40",
                       "--max-connections", "4", "--out", "run")
    assert result.returncode == 0, result.stderr
    records = read_lines(workdir / "run" / "transcripts.jsonl")
    assert records and all(r["status"] == "complete" for r in records)
    assert all(r["roles"]["judge"] == MODEL and r["correct"] in (True, False) for r in records)


def test_ida_and_elk_on_a_local_model(workdir: Path) -> None:
    ida = oversight("run", "ida", "--limit", "1", "--model", MODEL, "--set", "max_calls=6", "--set", "max_tokens=40",
                    "--out", "ida")
    assert ida.returncode == 0, ida.stderr
    assert all(r["status"] == "complete" and r["meta"]["tree"] for r in read_lines(workdir / "ida" / "transcripts.jsonl"))
    elk = oversight("run", "elk", "--limit", "1", "--rounds", "1", "--model", MODEL, "--set", "max_tokens=60",
                    "--set", "reporter_episodes=2", "--out", "elk")
    assert elk.returncode == 0, elk.stderr
    assert all(r["status"] == "complete" and r["meta"]["rounds"] for r in read_lines(workdir / "elk" / "transcripts.jsonl"))
