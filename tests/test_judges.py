"""Judges as users plug them in: plug-in files and modules, a human at the terminal, ensembles."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import oversight, oversight_in_process, read_lines

PLUGIN = Path(__file__).parent / "plugins" / "my_judges.py"


def test_the_readme_judge_plugin_runs_from_a_file_outside_the_package(workdir: Path) -> None:
    shutil.copy(PLUGIN, workdir / "my_judges.py")
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    example = PLUGIN.read_text().split("\n", 1)[1].split("\n\ndef always_first")[0].strip()
    assert example in readme, "the README's judge example and tests/plugins/my_judges.py have drifted apart"
    result = oversight("run", "debate", "--limit", "3", "--rounds", "1", "--judge", "my_judges.py:VerifiedQuoteJudge",
                       "--role", "debater_b=scripted/liar", "--out", "run")
    assert result.returncode == 0, result.stderr
    records = read_lines(workdir / "run" / "transcripts.jsonl")
    assert all(r["roles"]["judge"] == "my_judges.py:VerifiedQuoteJudge" for r in records)
    # the liar's quotes are never verified, so the honest debater (seat A) always wins
    assert all(r["verdict"]["choice"] == r["seating"]["A"] for r in records)
    assert all(r["verdict"]["raw"].startswith("scores") for r in records)


def test_a_plugin_module_on_the_path(workdir: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(PLUGIN.parent))
    result = oversight("run", "consultancy", "--limit", "2", "--judge", "my_judges:always_first", "--out", "run", env=env)
    assert result.returncode == 0, result.stderr
    assert all(r["verdict"]["choice"] == 0 for r in read_lines(workdir / "run" / "transcripts.jsonl"))


@pytest.mark.parametrize(("spec", "fragment"), [
    ("missing.py:Judge", "no file missing.py"),
    ("my_judges.py:Nope", "has no 'Nope'"),
    ("no_such_module:Judge", "cannot import"),
    ("oracle", "not a model spec"),
])
def test_bad_judge_specs(workdir: Path, spec: str, fragment: str) -> None:
    shutil.copy(PLUGIN, workdir / "my_judges.py")
    result = oversight_in_process("run", "debate", "--limit", "1", "--judge", spec)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and fragment in result.stderr, result.stderr


def test_an_ensemble_averages_its_members(workdir: Path) -> None:
    result = oversight("run", "debate", "--limit", "2", "--rounds", "1", "--judge", "scripted/judge",
                       "--judge", "scripted/first", "--out", "run")
    assert result.returncode == 0, result.stderr
    for record in read_lines(workdir / "run" / "transcripts.jsonl"):
        assert record["roles"]["judge"] == "scripted/judge + scripted/first"
        assert record["verdict"]["source"] == "ensemble-mean"
        assert record["verdict"]["probabilities"][0] >= 0.5  # "first" puts all its weight on A
        assert abs(sum(record["verdict"]["probabilities"]) - 1) < 1e-9
        assert [c["model"] for c in record["calls"] if c["role"] == "judge"] == ["scripted/judge", "scripted/first"]


def test_a_human_judges_in_the_terminal(workdir: Path) -> None:
    # two games, each answered with a label and a confidence; a bad answer is asked again
    answers = "maybe\nA\n80\nB\n\n"
    proc = subprocess.run(
        [sys.executable, "-m", "oversight", "run", "debate", "--limit", "1", "--rounds", "1", "--judge", "human",
         "--max-connections", "1", "--out", "run"],
        input=answers, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Your answer (A/B)" in proc.stdout and "Type one of A, B" in proc.stdout
    assert "<quote verified>" in proc.stdout  # the human sees the marked transcript
    records = read_lines(workdir / "run" / "transcripts.jsonl")
    verdicts = sorted((r["verdict"]["choice"], r["verdict"]["probabilities"]) for r in records)
    assert verdicts == [(0, [0.8, pytest.approx(0.2)]), (1, None)]
    assert all(r["roles"]["judge"] == "human" for r in records)
