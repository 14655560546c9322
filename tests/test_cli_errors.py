"""Bad input: one line on stderr saying what and where, exit code 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import oversight


def _one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_unknown_protocol(workdir: Path) -> None:
    _one_line_error(oversight("run", "debait"), "unknown protocol 'debait'", "debate")


def test_unknown_task(workdir: Path) -> None:
    _one_line_error(oversight("run", "debate", "--task", "no-such-task"), "unknown task 'no-such-task'")


def test_missing_task_file(workdir: Path) -> None:
    _one_line_error(oversight("run", "debate", "--task", "missing.jsonl"), "missing.jsonl", "not found")


@pytest.mark.parametrize(("spec", "fragment"), [
    ("gpt-4o", "expected PROVIDER/NAME"),
    ("nosuch/model", "unknown model provider 'nosuch'"),
    ("scripted/nosuch", "unknown scripted policy 'nosuch'"),
    ("openai/x?rps=fast&base_url=http://127.0.0.1:9/v1", "could not convert"),
    ("openai/x?colour=blue&base_url=http://127.0.0.1:9/v1", "unknown setting(s) colour"),
    ("openai/x?base_url=ftp://example", "must start with http"),
])
def test_bad_model_specs(workdir: Path, spec: str, fragment: str) -> None:
    _one_line_error(oversight("run", "debate", "--model", spec), fragment)


def test_unknown_role(workdir: Path) -> None:
    _one_line_error(oversight("run", "debate", "--role", "critic=scripted/echo"), "no role 'critic'")


def test_malformed_role_option(workdir: Path) -> None:
    _one_line_error(oversight("run", "debate", "--role", "judge"), "expected ROLE=SPEC")


def test_unknown_option(workdir: Path) -> None:
    _one_line_error(oversight("run", "debate", "--colour"), "No such option '--colour'")


def test_bad_option_value(workdir: Path) -> None:
    _one_line_error(oversight("run", "debate", "--rounds", "zero"), "--rounds")


@pytest.mark.parametrize(("content", "fragments"), [
    ('{"id": "1", "question": "q", "choices": ["a", "b"], "answer": 0}\n{"id": "2", "question": ', ("bad.jsonl:2", "not valid JSON")),
    ('{"id": "1", "question": "q", "choices": ["a", "b"]}\n', ("bad.jsonl:1", "'answer'", "Field required")),
    ('{"id": "1", "question": "q", "choices": ["a", "b"], "answer": 5}\n', ("bad.jsonl:1", "not an index")),
    ('{"id": "1", "question": "q", "choices": ["a"], "answer": 0}\n', ("bad.jsonl:1", "'choices'")),
    ('{"id": "1", "question": "q", "choices": ["a", "b"], "answer": 0, "colour": 1}\n', ("bad.jsonl:1", "colour")),
    ('[1, 2]\n', ("bad.jsonl:1", "expected a JSON object")),
])
def test_malformed_task_files(workdir: Path, content: str, fragments: tuple[str, ...]) -> None:
    (workdir / "bad.jsonl").write_text(content)
    _one_line_error(oversight("run", "debate", "--task", "bad.jsonl"), *fragments)


def test_malformed_csv_task_file(workdir: Path) -> None:
    (workdir / "bad.csv").write_text("id,question,choices,answer\n1,q,a|b,0\n2,q,a|b,first\n")
    _one_line_error(oversight("run", "debate", "--task", "bad.csv"), "bad.csv:3", "'answer'")


def test_missing_prompts_folder(workdir: Path) -> None:
    _one_line_error(oversight("run", "debate", "--prompts", "nowhere"), "--prompts nowhere", "not a directory")


def test_template_with_an_undefined_variable(workdir: Path) -> None:
    (workdir / "mine" / "debate").mkdir(parents=True)
    (workdir / "mine" / "debate" / "judge.j2").write_text("Decide {{ questoin }}")
    _one_line_error(
        oversight("run", "debate", "--limit", "1", "--prompts", "mine", "--out", "run"),
        "'debate/judge.j2'",
        "'questoin' is undefined",
    )


def test_template_with_a_syntax_error(workdir: Path) -> None:
    (workdir / "mine" / "debate").mkdir(parents=True)
    (workdir / "mine" / "debate" / "debater.j2").write_text("{% if %}")
    _one_line_error(oversight("run", "debate", "--limit", "1", "--prompts", "mine", "--out", "run"), "'debate/debater.j2' line 1")


def test_show_on_a_folder_that_is_not_a_run(workdir: Path) -> None:
    (workdir / "empty").mkdir()
    _one_line_error(oversight("show", "empty"), "empty", "not a run folder")


def test_show_an_unknown_game(workdir: Path) -> None:
    assert oversight("run", "debate", "--limit", "1", "--out", "run").returncode == 0
    _one_line_error(oversight("show", "run", "ffff0000"), "no game 'ffff0000'")


def test_missing_api_key_for_the_hosted_api(workdir: Path) -> None:
    _one_line_error(oversight("run", "debate", "--model", "openai/gpt-4o-mini"), "OPENAI_API_KEY is not set")


def test_unknown_protocol_setting(workdir: Path) -> None:
    _one_line_error(oversight("run", "debate", "--set", "colour=3"), "debate option colour", "Extra inputs")


def test_open_ended_items_are_refused_by_debate(workdir: Path) -> None:
    (workdir / "open.jsonl").write_text('{"id": "1", "question": "2+2?", "answer": "4"}\n')
    _one_line_error(oversight("run", "debate", "--task", "open.jsonl"), "item '1'", "debate needs choices")
