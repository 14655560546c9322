"""User prompt overrides, the template sandbox, and the task file formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from oversight.errors import FatalRunError, UserError
from oversight.judges import JudgeView
from oversight.prompts import PromptLibrary
from oversight.tasks import load_task, load_task_file

from .conftest import oversight, read_lines


def test_a_user_template_overrides_the_builtin_by_name(workdir: Path) -> None:
    (workdir / "mine" / "debate").mkdir(parents=True)
    (workdir / "mine" / "debate" / "judge.j2").write_text(
        "{% block system %}Be terse.{% endblock %}{% block user %}Q: {{ question }} CUSTOM{% endblock %}"
    )
    result = oversight("run", "debate", "--limit", "1", "--rounds", "1", "--prompts", "mine",
                       "--judge", "scripted/echo", "--out", "run")
    assert result.returncode == 0, result.stderr
    record = read_lines(workdir / "run" / "transcripts.jsonl")[0]
    judge_turn = next(t for t in record["turns"] if t["role"] == "judge")
    assert judge_turn["content"] == f"Q: {record['question']} CUSTOM"
    debater_turn = next(t for t in record["turns"] if t["role"] == "debater_a")
    assert "<quote>" in debater_turn["content"]  # the debater template was not overridden


def test_templates_render_to_system_and_user_messages() -> None:
    view = JudgeView(protocol="debate", question="Q?", choices=["x", "y"], labels=["A", "B"])
    messages = PromptLibrary().render("debate/judge.j2", {**view.model_dump(), "retry": False})
    assert [m.role for m in messages] == ["system", "user"]
    assert "A. x" in messages[1].content and "B. y" in messages[1].content


def test_the_sandbox_blocks_python_internals(tmp_path: Path) -> None:
    (tmp_path / "debate").mkdir()
    (tmp_path / "debate" / "judge.j2").write_text("{{ question.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(FatalRunError, match="debate/judge.j2"):
        PromptLibrary(tmp_path).render("debate/judge.j2", {"question": "q"})


def test_a_missing_template_names_the_template_and_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(FatalRunError, match=r"'debate/nosuch.j2' not found in .* or the built-in prompts"):
        PromptLibrary(tmp_path).template("debate/nosuch.j2")


def test_jsonl_and_csv_task_files(tmp_path: Path) -> None:
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text(
        '{"id": "a", "question": "Which?", "choices": ["x", "y"], "answer": 1, "passage": "y it is"}\n\n'
        '{"id": 7, "question": "Other?", "choices": ["p", "q", "r"], "answer": 0}\n'
    )
    items = load_task_file(jsonl).items
    assert [i.id for i in items] == ["a", "7"]
    assert items[0].passage == "y it is" and items[1].passage is None
    csv = tmp_path / "t.csv"
    csv.write_text('id,question,choices,answer,passage\n1,"Which, then?",x|y,1,\n2,Other?,"[""p"", ""q""]",0,ctx\n')
    rows = load_task_file(csv).items
    assert rows[0].question == "Which, then?" and rows[0].choices == ["x", "y"] and rows[0].answer == 1
    assert rows[1].choices == ["p", "q"] and rows[1].passage == "ctx"


def test_duplicate_ids_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"id": "a", "question": "q", "choices": ["x", "y"], "answer": 0}\n' * 2)
    with pytest.raises(UserError, match=r"t.jsonl:2: field 'id': duplicate id 'a'"):
        load_task_file(path)


def test_builtin_stories_are_deterministic_and_give_each_answer_a_sentence() -> None:
    first, second = load_task("mini-stories", seed=3), load_task("mini-stories", seed=3)
    assert first.items == second.items
    assert load_task("mini-stories", seed=4).items != first.items
    for item in first.items:
        wrong = item.choices[1 - item.answer].removeprefix("The ")
        right = item.choices[item.answer].removeprefix("The ")
        assert item.passage and wrong in item.passage and right in item.passage


def test_a_task_file_runs_end_to_end(workdir: Path) -> None:
    (workdir / "mine.jsonl").write_text(
        '{"id": "q1", "question": "What colour is the door?", "choices": ["red", "blue"], "answer": 1,'
        ' "passage": "The door is blue. A red car passed."}\n'
    )
    result = oversight("run", "debate", "--task", "mine.jsonl", "--rounds", "1", "--out", "run")
    assert result.returncode == 0, result.stderr
    records = read_lines(workdir / "run" / "transcripts.jsonl")
    assert {r["task"] for r in records} == {"mine"} and len(records) == 2
