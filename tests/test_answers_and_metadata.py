"""Final answers read from sentences; QuALITY questions without a gold label counted; item metadata in records,
summaries split by it, and the split shown."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from oversight.protocols.ida.protocol import is_correct
from oversight.protocols.ida.tree import parse_answer

from oversight.records import GameRecord
from oversight.scoring import summarise
from oversight.tasks import TaskItem, load_task
from oversight.tasks.decomposable.base import extract_answer

from .conftest import oversight, oversight_in_process, read_lines


def _open(answer: str) -> TaskItem:
    return TaskItem(id="q", question="?", answer=answer)


@pytest.mark.parametrize(
    ("reply", "exact", "right"),
    [
        # numbers: the last one, unless the stretch after the last marker hedges between several
        ("The value of the arithmetic expression 7 + 2 is 9.", "9", True),
        ("7 + 2 = 9", "9", True),
        ("(5 * 8) * 2 = 40 * 2 = 80", "80", True),
        ("The answer is 9 because 4 + 5 = 9.", "9", True),
        ("Adding 7 and 2 gives 9", "9", True),
        ("The value is -6.", "-6", True),
        ("It is 9.0", "9", True),
        ("not 9, it is 8", "9", False),
        ("It is 8, not 9.", "9", False),
        ("Either 8 or 9.", "9", False),
        ("The answer is 8, but it might be 9", "9", False),
        ("8, 9", "9", False),
        ("The sum is 19", "9", False),
        ("It is the 9th", "9", False),
        ("I cannot tell.", "9", False),
        # lists: the last run of as many numbers as the exact answer has
        ("p^6 is [0, 5, 4, 3, 2, 1].", "0 5 4 3 2 1", True),
        ("The values at 0 to 5 are 0 5 4 3 2 1", "0 5 4 3 2 1", True),
        ("The answer is 0 5 4 3 2 1 0", "0 5 4 3 2 1", False),
        ("It is 0 1 2 3 4 5, not 0 5 4 3 2 1", "0 5 4 3 2 1", False),
        # yes / no: a clause that is only "yes" or "no"
        ("Yes, t and c are connected through s.", "yes", True),
        ("They are linked, so the answer is yes.", "yes", True),
        ("There is no doubt: yes.", "yes", True),
        ("No, there is no path between them.", "yes", False),
        ("No, t and z are not connected.", "no", True),
        ("Yes or no, hard to say.", "yes", False),
        # names: the last capitalised word that is not a possessive
        ("Sal's neighbour is Bo, and Bo's sibling is Ada.", "Ada", True),
        ("Ada is Sal's neighbour's sibling.", "Ada", True),
        ("It is not Ada, it is Bo.", "Ada", False),
        ("Ada or Bo.", "Ada", False),
        ("Adam", "Ada", False),
        # anything else: the whole reply in normal form
        ("The answer is none.", "none", True),
        ("s t; y z", "s t; y z", True),
    ],
)
def test_the_final_answer_is_read_from_the_sentence(reply: str, exact: str, right: bool) -> None:
    assert is_correct(_open(exact), reply) is right


def test_the_extracted_answer_is_in_normal_form_or_none() -> None:
    assert extract_answer("The value of the arithmetic expression 7 + 2 is 9.", "9") == "9"
    assert extract_answer("p^6 is [0, 5, 4, 3, 2, 1].", "0 5 4 3 2 1") == "0 5 4 3 2 1"
    assert extract_answer("Ada is Sal's neighbour's sibling.", "Ada") == "ada"
    assert extract_answer("It is 8, not 9.", "9") is None
    assert extract_answer("", "yes") is None


def test_an_answer_line_is_read_before_extraction() -> None:
    answer, ok = parse_answer("Working: 7 + 2.\nANSWER: The value is 9.")
    assert ok and answer == "The value is 9." and is_correct(_open("9"), answer)


def test_multiple_choice_answers_are_compared_as_before() -> None:
    item = TaskItem(id="q", question="?", choices=["storm", "orders"], answer=1)
    assert is_correct(item, "B") and is_correct(item, "Answer: orders") and not is_correct(item, "A")


# -- QuALITY without gold labels -------------------------------------------------------------------------------
def _quality_file(path: Path) -> Path:
    def question(qid: str, gold: int, difficult: int, speed: list[int]) -> dict[str, Any]:
        return {
            "question": f"Question {qid}?", "options": ["fuel", "storm", "mutiny", "orders"], "gold_label": gold,
            "difficult": difficult, "question_unique_id": qid,
            "validation": [{"untimed_answer": gold, "untimed_best_distractor": 1 if gold != 1 else 2}],
            "speed_validation": [{"speed_answer": a} for a in speed],
        }

    questions = [
        question("51_q1", 4, 1, [4, 1]),
        question("51_q2", 2, 0, [2]),
        question("51_q3", 3, 1, [1]),
        {"question": "Unlabelled?", "options": ["a", "b", "c", "d"]},
        {"question": "Also unlabelled?", "options": ["a", "b", "c", "d"]},
    ]
    article = {"article_id": "51", "title": "Star Drift", "article": "The ship turned back on orders.",
               "questions": questions}
    path.write_text(json.dumps(article) + "\n")
    return path


def test_quality_questions_without_gold_label_are_counted_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _quality_file(tmp_path / "quality.dev.jsonl")
    with caplog.at_level(logging.WARNING):
        task = load_task(str(path))
    assert len(task.items) == 3 and task.skipped == {"no gold label": 2}
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: skipped 2 questions without a gold label (test split?)"
    ]


# -- item metadata in records, summaries and show ---------------------------------------------------------------
def _record(game: int, protocol: str, correct: bool | None, item_meta: dict[str, Any], **fields: Any) -> GameRecord:
    now = datetime.now(UTC)
    return GameRecord(
        game_id=f"g{game}", protocol=protocol, task="t", item_id=f"i{game}", status="complete", roles={},
        question="?", answer=0, correct=correct, item_meta=item_meta, started_at=now, finished_at=now, **fields,
    )


def test_the_summary_splits_by_scalar_metadata_with_two_to_eight_values() -> None:
    metas = [
        {"difficult": 1, "speed": 0.5, "title": "one", "many": 0, "tags": ["x"], "flag": True},
        {"difficult": 0, "speed": 1.0, "title": "one", "many": 1, "tags": ["y"], "flag": False},
        {"difficult": 1, "speed": 0.5, "title": "one", "many": 2, "tags": ["x"], "flag": None},
        {"difficult": 1, "speed": 1.0, "title": "one", "many": 3, "tags": ["x"]},
        {"difficult": 0, "speed": 0.5, "title": "one", "many": 4, "tags": ["x"], "flag": True},
        *({"many": n} for n in range(5, 9)),
    ]
    records = [_record(i, "debate", i % 3 == 0, meta) for i, meta in enumerate(metas)]
    records.append(_record(99, "blind", True, {"difficult": 1}))
    summary = summarise("run", records)
    # "title" has one value, "many" nine, "tags" are lists; games without the key (or with null) are left out
    assert set(summary.by_meta) == {"difficult", "speed", "flag"}
    difficult = summary.by_meta["difficult"]
    assert list(difficult) == ["0", "1"] and set(difficult["1"]) == {"blind", "debate"}
    assert (difficult["1"]["debate"].judged, difficult["1"]["debate"].correct) == (3, 2)  # games 0, 2, 3
    assert (difficult["0"]["debate"].judged, difficult["0"]["debate"].correct) == (2, 0)  # games 1, 4
    assert difficult["1"]["debate"].accuracy == pytest.approx(2 / 3) and difficult["1"]["debate"].accuracy_ci95
    assert (difficult["1"]["blind"].games, difficult["1"]["blind"].correct) == (1, 1)
    assert list(summary.by_meta["speed"]) == ["0.5", "1.0"] and list(summary.by_meta["flag"]) == ["false", "true"]
    assert summary.by_meta["flag"]["true"]["debate"].games == 2


def _ida_task_file(path: Path) -> Path:
    rows = [
        {"id": "q1", "question": "What is 4 + 5?", "answer": "9", "meta": {"difficult": 1, "source": "hand"}},
        {"id": "q2", "question": "What is 3 * 3?", "answer": "9", "meta": {"difficult": 0, "source": "hand"}},
        {"id": "q3", "question": "What is 10 - 2?", "answer": "8", "meta": {"difficult": 1, "source": "hand"}},
        {"id": "q4", "question": "What is 14 / 2?", "answer": "7", "meta": {"difficult": 1, "source": "hand"}},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_item_metadata_reaches_records_and_splits_the_summary(workdir: Path) -> None:
    _ida_task_file(workdir / "sums.jsonl")
    model = "scripted/constant?text=ANSWER: The value is 9."
    result = oversight("run", "ida", "--task", "sums.jsonl", "--model", model, "--out", "run")
    assert result.returncode == 0, result.stderr
    records = read_lines(workdir / "run" / "transcripts.jsonl")
    assert len(records) == 8
    for record in records:
        assert record["item_meta"]["source"] == "hand" and "difficult" in record["item_meta"]
        assert record["meta"]["answer"] == "The value is 9."  # as given
        assert record["meta"]["extracted"] == "9" and record["meta"]["tree"][0]["extracted"] == "9"
        assert record["correct"] is (record["answer"] == "9")
    by_meta = json.loads((workdir / "run" / "summary.json").read_text())["by_meta"]
    assert set(by_meta) == {"difficult"}  # "source" has a single value
    for mode in ("ida/amplified", "ida/direct"):
        assert {v: (s["judged"], s["correct"]) for v, s in ((v, by_meta["difficult"][v][mode]) for v in "01")} == {
            "0": (1, 1), "1": (3, 1)
        }
    shown = oversight_in_process("show", "run")
    assert shown.returncode == 0, shown.stderr
    split = shown.stdout[shown.stdout.index("accuracy by difficult"):]
    assert "ida/amplified" in split and "ida/direct" in split
    assert "100.0%" in split and "33.3%" in split


def test_quality_metadata_and_skipped_questions_reach_the_run_folder(workdir: Path) -> None:
    _quality_file(workdir / "quality.dev.jsonl")
    result = oversight("run", "expert", "--task", "quality.dev.jsonl", "--out", "run")
    assert result.returncode == 0, result.stderr
    assert "oversight: quality.dev.jsonl: skipped 2 questions without a gold label (test split?)" in result.stderr
    records = read_lines(workdir / "run" / "transcripts.jsonl")
    assert {r["item_id"]: r["item_meta"]["difficult"] for r in records} == {"51_q1": 1, "51_q2": 0, "51_q3": 1}
    assert {r["item_id"]: r["item_meta"]["speed_accuracy"] for r in records} == {
        "51_q1": 0.5, "51_q2": 1.0, "51_q3": 0.0
    }
    summary = json.loads((workdir / "run" / "summary.json").read_text())
    assert summary["skipped_items"] == {"no gold label": 2}
    assert {"difficult", "speed_accuracy"} <= set(summary["by_meta"])
    assert sum(s["expert"]["games"] for s in summary["by_meta"]["difficult"].values()) == 3
    shown = oversight_in_process("show", "run")
    assert "accuracy by difficult" in shown.stdout
    assert "2 question(s) of the task skipped (no gold label)" in shown.stdout
