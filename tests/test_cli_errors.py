"""Bad input: one line on stderr saying what and where, exit code 2, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import oversight_in_process, read_lines


def _one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_unknown_protocol(workdir: Path) -> None:
    _one_line_error(oversight_in_process("run", "debait"), "unknown protocol 'debait'", "debate")


def test_unknown_task(workdir: Path) -> None:
    _one_line_error(oversight_in_process("run", "debate", "--task", "no-such-task"), "unknown task 'no-such-task'")


def test_missing_task_file(workdir: Path) -> None:
    _one_line_error(oversight_in_process("run", "debate", "--task", "missing.jsonl"), "missing.jsonl", "not found")


@pytest.mark.parametrize(("spec", "fragment"), [
    ("gpt-4o", "expected PROVIDER/NAME"),
    ("nosuch/model", "unknown model provider 'nosuch'"),
    ("scripted/nosuch", "unknown scripted policy 'nosuch'"),
    ("openai/x?rps=fast&base_url=http://127.0.0.1:9/v1", "could not convert"),
    ("openai/x?colour=blue&base_url=http://127.0.0.1:9/v1", "unknown setting(s) colour"),
    ("openai/x?base_url=ftp://example", "must start with http"),
])
def test_bad_model_specs(workdir: Path, spec: str, fragment: str) -> None:
    _one_line_error(oversight_in_process("run", "debate", "--model", spec), fragment)


def test_unknown_role(workdir: Path) -> None:
    _one_line_error(oversight_in_process("run", "debate", "--role", "critic=scripted/echo"), "no role 'critic'")


def test_malformed_role_option(workdir: Path) -> None:
    _one_line_error(oversight_in_process("run", "debate", "--role", "judge"), "expected ROLE=SPEC")


def test_unknown_option(workdir: Path) -> None:
    _one_line_error(oversight_in_process("run", "debate", "--colour"), "No such option '--colour'")


def test_bad_option_value(workdir: Path) -> None:
    _one_line_error(oversight_in_process("run", "debate", "--rounds", "zero"), "--rounds")


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
    _one_line_error(oversight_in_process("run", "debate", "--task", "bad.jsonl"), *fragments)


def test_malformed_csv_task_file(workdir: Path) -> None:
    (workdir / "bad.csv").write_text("id,question,choices,answer\n1,q,a|b,0\n2,q,a|b,first\n")
    _one_line_error(oversight_in_process("run", "debate", "--task", "bad.csv"), "bad.csv:3", "'answer'")


def test_missing_prompts_folder(workdir: Path) -> None:
    _one_line_error(
        oversight_in_process("run", "debate", "--prompts", "nowhere"), "--prompts nowhere", "not a directory"
    )


def test_template_with_an_undefined_variable(workdir: Path) -> None:
    (workdir / "mine" / "debate").mkdir(parents=True)
    (workdir / "mine" / "debate" / "judge.j2").write_text("Decide {{ questoin }}")
    _one_line_error(
        oversight_in_process("run", "debate", "--limit", "1", "--prompts", "mine", "--out", "run"),
        "'debate/judge.j2'",
        "'questoin' is undefined",
    )


def test_template_with_a_syntax_error(workdir: Path) -> None:
    (workdir / "mine" / "debate").mkdir(parents=True)
    (workdir / "mine" / "debate" / "debater.j2").write_text("{% if %}")
    result = oversight_in_process("run", "debate", "--limit", "1", "--prompts", "mine", "--out", "run")
    _one_line_error(result, "'debate/debater.j2' line 1")


def test_show_on_a_folder_that_is_not_a_run(workdir: Path) -> None:
    (workdir / "empty").mkdir()
    _one_line_error(oversight_in_process("show", "empty"), "empty", "not a run folder")


def test_show_an_unknown_game(workdir: Path) -> None:
    assert oversight_in_process("run", "debate", "--limit", "1", "--out", "run").returncode == 0
    _one_line_error(oversight_in_process("show", "run", "ffff0000"), "no game 'ffff0000'")


def test_missing_api_key_for_the_hosted_api(workdir: Path) -> None:
    _one_line_error(oversight_in_process("run", "debate", "--model", "openai/gpt-4o-mini"), "OPENAI_API_KEY is not set")


def test_unknown_protocol_setting(workdir: Path) -> None:
    _one_line_error(oversight_in_process("run", "debate", "--set", "colour=3"), "debate option colour", "Extra inputs")


def test_open_ended_items_are_refused_by_debate(workdir: Path) -> None:
    (workdir / "open.jsonl").write_text('{"id": "1", "question": "2+2?", "answer": "4"}\n')
    _one_line_error(oversight_in_process("run", "debate", "--task", "open.jsonl"), "item '1'", "debate needs choices")


@pytest.mark.parametrize(("template", "fragment"), [
    ("Decide {{ 1/0 }}", "line 1: ZeroDivisionError: division by zero"),
    ("Decide\n{% include 'nowhere.j2' %}", "line 2: template 'nowhere.j2' not found"),
    ("Decide {{ question + 1 }}", "line 1: TypeError"),
])
def test_template_that_fails_while_rendering_stops_the_run(workdir: Path, template: str, fragment: str) -> None:
    (workdir / "mine" / "debate").mkdir(parents=True)
    (workdir / "mine" / "debate" / "judge.j2").write_text(template)
    result = oversight_in_process("run", "debate", "--limit", "3", "--rounds", "1", "--prompts", "mine", "--out", "run")
    _one_line_error(result, "prompt template 'debate/judge.j2'", fragment)
    assert not (workdir / "run" / "transcripts.jsonl").read_text()


@pytest.mark.parametrize(("args", "fragment"), [
    (("run", "debate", "--rounds", "101"), "debate option rounds: Input should be less than or equal to 100"),
    (("run", "elk", "--set", "rounds=1000"), "elk option rounds: Input should be less than or equal to 100"),
    (("run", "debate", "--set", "max_tokens=10000000"), "debate option max_tokens"),
    (("run", "ida", "--set", "max_calls=1000000000"), "ida option max_calls"),
    (("run", "ida", "--iterations", "1000"), "ida option iterations"),
    (("run", "ida", "--set", "max_depth=1000"), "ida option max_depth"),
    (("run", "debate", "--max-connections", "100000000"), "--max-connections"),
])
def test_counts_beyond_their_bounds(workdir: Path, args: tuple[str, ...], fragment: str) -> None:
    _one_line_error(oversight_in_process(*args, "--limit", "1"), fragment)


def test_tournament_settings_beyond_their_bounds(workdir: Path) -> None:
    (workdir / "t.toml").write_text(
        'protocols = ["debate"]\nmax_connections = 100000000\n[settings]\nrounds = 1000\n'
        '[[players]]\nname = "p"\nmodel = "scripted/auto"\n[[judges]]\nname = "j"\nmodel = "scripted/judge"\n'
    )
    _one_line_error(oversight_in_process("tournament", "t.toml"), "t.toml: max_connections")


def test_csv_task_file_with_a_byte_order_mark(workdir: Path) -> None:
    (workdir / "bom.csv").write_text("id,question,choices,answer\n1,q,a|b,0\n", encoding="utf-8-sig")
    result = oversight_in_process("run", "blind", "--task", "bom.csv", "--out", "run")
    assert result.returncode == 0, result.stderr


def test_jsonl_task_file_with_a_byte_order_mark(workdir: Path) -> None:
    (workdir / "bom.jsonl").write_text('{"id": "1", "question": "q", "choices": ["a", "b"], "answer": 0}\n',
                                       encoding="utf-8-sig")
    assert oversight_in_process("run", "blind", "--task", "bom.jsonl", "--out", "run").returncode == 0


@pytest.mark.parametrize(("item_id", "fragment"), [
    ("null", "bad.jsonl:2: field 'id': must be a string or an integer, not null"),
    ("1.5", "bad.jsonl:2: field 'id': must be a string or an integer, not 1.5"),
    ("true", "bad.jsonl:2: field 'id': must be a string or an integer, not true"),
])
def test_task_ids_must_be_strings_or_integers(workdir: Path, item_id: str, fragment: str) -> None:
    good = '{"id": 7, "question": "q", "choices": ["a", "b"], "answer": 0}\n'
    bad = f'{{"id": {item_id}, "question": "q", "choices": ["a", "b"], "answer": 0}}\n'
    (workdir / "bad.jsonl").write_text(good + bad)
    _one_line_error(oversight_in_process("run", "blind", "--task", "bad.jsonl"), fragment)


def test_integer_task_ids_are_read_as_strings(workdir: Path) -> None:
    (workdir / "ints.jsonl").write_text('{"id": 7, "question": "q", "choices": ["a", "b"], "answer": 0}\n')
    assert oversight_in_process("run", "blind", "--task", "ints.jsonl", "--out", "run").returncode == 0
    assert [r["item_id"] for r in read_lines(workdir / "run" / "transcripts.jsonl")] == ["7"]


def test_json_errors_name_the_column_once(workdir: Path) -> None:
    (workdir / "bad.jsonl").write_text('{"id": "1", "question": "q\n')
    _one_line_error(oversight_in_process("run", "debate", "--task", "bad.jsonl"),
                    "bad.jsonl:1: not valid JSON (Unterminated string starting at column 25)")


def test_quality_questions_are_counted_from_1(workdir: Path) -> None:
    article = {"article_id": "a1", "title": "t", "article": "Text.", "questions": [
        {"question": "first?", "options": ["a", "b", "c", "d"], "gold_label": 1},
        {"question": "second?", "options": ["a", "b", "c", "d"], "gold_label": 5},
    ]}
    (workdir / "quality.jsonl").write_text(json.dumps(article) + "\n")
    _one_line_error(oversight_in_process("run", "debate", "--task", "quality.jsonl"),
                    "quality.jsonl:1: question 2: needs 'options' and a 'gold_label' from 1 to 4")


def test_a_plugin_judge_module_in_the_working_folder(workdir: Path) -> None:
    """The installed command, not ``python -m`` (which puts the working folder on the path by itself)."""
    (workdir / "local_judges.py").write_text(
        "from oversight.judges import Verdict\n\ndef first(view):\n    return Verdict(choice=0, raw='A')\n"
    )
    command = Path(sys.executable).with_name("oversight")
    args = ["run", "blind", "--limit", "1", "--judge", "local_judges:first", "--out", "run"]
    proc = subprocess.run([str(command), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert [r["verdict"]["choice"] for r in read_lines(workdir / "run" / "transcripts.jsonl")] == [0]
