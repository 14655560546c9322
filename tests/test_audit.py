"""`oversight audit`: shortcut judges that never see the passage's reasoning, against chance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from oversight.audit import AuditReport, audit_task
from oversight.tasks import TASKS, load_task

from .conftest import CliResult, oversight_in_process

# Six items whose answer is always the longer choice. Per item, in order: is the answer the first choice, does
# it hold the larger number, does it share more words with the question, is its best supporting sentence the
# later one?  (1) first, larger, more, earlier  (2) first, larger, more, earlier  (3) first, larger, fewer,
# earlier  (4) first, larger, fewer, earlier  (5) last, larger, fewer, earlier  (6) last, smaller, fewer, later.
LONGER_WINS = [
    ("How many apples did Mia pick?", ["14 apples", "9"], 0,
     "Mia picked 14 apples in the morning. Later she dropped 9 on the way home."),
    ("How many pears were left in the basket?", ["20 pears left", "5"], 0,
     "There were 20 pears left in the basket. Tom had eaten 5 of them."),
    ("How many birds sat on the fence?", ["31 sparrows", "4 birds"], 0,
     "Exactly 31 sparrows sat on the fence. Only 4 birds flew away."),
    ("What number did the clock show?", ["half past 11", "clock 3"], 0,
     "The hall clock said half past 11. The kitchen clock said 3."),
    ("How many coins are in the jar?", ["8 coins", "about 52 pennies"], 1,
     "The jar holds about 52 pennies. Yesterday it held 8 coins."),
    ("How old is the dog?", ["the dog is 9", "roughly 6 years"], 1,
     "People guess the dog is 9. The vet says roughly 6 years."),
]
LONGER_WINS_ACCURACY = {
    "first choice": 4 / 6,
    "last choice": 2 / 6,
    "longer choice": 6 / 6,
    "shorter choice": 0 / 6,
    "larger number": 5 / 6,
    "smaller number": 1 / 6,
    "most question overlap": 2 / 6,
    "least question overlap": 4 / 6,
    "latest support": 1 / 6,
    "earliest support": 5 / 6,
}
REGRESSIONS = ("regression: blind", "regression: lone quote")


def _write_items(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _longer_wins(tmp_path: Path) -> Path:
    rows = [
        {"id": f"item-{n}", "question": q, "choices": choices, "answer": answer, "passage": passage}
        for n, (q, choices, answer, passage) in enumerate(LONGER_WINS, start=1)
    ]
    return _write_items(tmp_path / "longer.jsonl", rows)


def _balanced(tmp_path: Path) -> Path:
    """Twelve pairs of items with the same question, choices and passage and opposite answers: whatever a
    shortcut reads, it picks the same choice for both items of a pair, so it is right exactly half the time."""
    rows = []
    for k, (name, noun) in enumerate(zip(
        ("Ana", "Ben", "Cai", "Dee", "Eli", "Fay", "Gus", "Hal", "Ida", "Jo", "Kim", "Lou"),
        ("shells", "stamps", "marbles", "buttons", "acorns", "pebbles", "coins", "cards", "beads", "keys", "pins", "nuts"),
        strict=True,
    )):
        a, b = 10 + k, 40 + 3 * k
        item = {
            "question": f"How many {noun} did {name} count?",
            "choices": [f"{a} {noun}", f"about {b} tiny ones"],
            "passage": f"{name} counted {a} {noun} in the morning. By evening there were about {b} tiny ones.",
        }
        rows += [{"id": f"pair-{k}-a", **item, "answer": 0}, {"id": f"pair-{k}-b", **item, "answer": 1}]
    return _write_items(tmp_path / "balanced.jsonl", rows)


def _accuracies(report: AuditReport) -> dict[str, float | None]:
    return {shortcut.name: shortcut.accuracy for shortcut in report.shortcuts}


def _audit(*args: str) -> CliResult:
    # a wide terminal keeps every table row on one line
    return oversight_in_process("audit", *args, env={"COLUMNS": "200"})


def _row(table: str, name: str) -> str:
    return next(line for line in table.splitlines() if line.startswith(f"│ {name} "))


def test_position_length_number_overlap_and_support_shortcuts_score_what_hand_counting_gives(tmp_path: Path) -> None:
    report = audit_task(load_task(str(_longer_wins(tmp_path))))
    accuracies = _accuracies(report)
    assert {name: accuracies[name] for name in LONGER_WINS_ACCURACY} == pytest.approx(LONGER_WINS_ACCURACY)
    assert report.chance == 0.5
    assert not report.passes
    # 6/6 and 0/6 are the only counts whose interval leaves out one half
    assert {s.name for s in report.shortcuts if s.passes is False} == {"longer choice", "shorter choice"}
    for name in REGRESSIONS:
        row = next(s for s in report.shortcuts if s.name == name)
        assert row.accuracy is None and row.passes is None
        assert row.note == "skipped: fewer than 10 items"


def test_a_task_answered_by_the_longer_choice_fails_with_exit_code_1(tmp_path: Path) -> None:
    result = _audit(str(_longer_wins(tmp_path)))
    assert result.returncode == 1, result.stderr
    longer = _row(result.stdout, "longer choice")
    assert "100.0%" in longer and "FAIL" in longer
    assert "skipped: fewer than 10 items" in _row(result.stdout, "regression: lone quote")
    assert result.stdout.strip().splitlines()[-1].startswith("FAIL: 2 of 12 shortcut judges")


def test_a_balanced_task_passes_with_exit_code_0(tmp_path: Path) -> None:
    path = _balanced(tmp_path)
    report = audit_task(load_task(str(path)))
    assert report.items == 24
    assert all(s.passes for s in report.shortcuts), [(s.name, s.accuracy) for s in report.shortcuts]
    accuracies = _accuracies(report)
    assert {name: accuracies[name] for name in LONGER_WINS_ACCURACY} == {name: 0.5 for name in LONGER_WINS_ACCURACY}
    assert all(accuracies[name] is not None for name in REGRESSIONS)

    result = _audit(str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "PASS: no shortcut judge's 95% interval excludes chance (50.0%)."


def test_a_shortcut_that_cannot_decide_draws_instead_of_taking_the_first_choice(tmp_path: Path) -> None:
    # every choice has the same length and no number, and the answer is always the first choice
    rows = [
        {"id": f"tie-{n}", "question": f"Which colour is flag {n}?", "choices": ["red", "tan"], "answer": 0}
        for n in range(40)
    ]
    task = load_task(str(_write_items(tmp_path / "ties.jsonl", rows)))
    by_seed = [_accuracies(audit_task(task, seed=seed)) for seed in range(4)]
    for name in ("longer choice", "shorter choice", "larger number", "latest support"):
        assert all(0.2 < (accuracies[name] or 0) < 0.8 for accuracies in by_seed), name
        assert len({accuracies[name] for accuracies in by_seed}) > 1, f"{name}: --seed does not move the draw"
    assert _accuracies(audit_task(task, seed=0)) == by_seed[0]


def test_a_quality_file_is_audited_on_its_labelled_questions(tmp_path: Path) -> None:
    def question(n: int) -> dict[str, Any]:
        return {
            "question": f"What did the crew find in room {n}?",
            "options": [f"a map {n}", f"the long-lost brass compass of captain {n}", f"a rope {n}", f"a box {n}"],
            "gold_label": 2,
            "validation": [{"untimed_answer": 2, "untimed_best_distractor": 4}],
        }

    articles = [
        {"article_id": f"art-{a}", "title": f"Voyage {a}", "article": f"The crew of ship {a} searched every room.",
         "questions": [question(6 * a + n) for n in range(6)]}
        for a in range(2)
    ]
    articles[0]["questions"].append({"question": "An unlabelled question?", "options": ["w", "x", "y", "z"]})
    path = tmp_path / "quality-dev.jsonl"
    path.write_text("".join(json.dumps(article) + "\n" for article in articles))

    result = _audit(str(path), "--json")
    assert result.returncode == 1, result.stderr
    report = AuditReport.model_validate_json(result.stdout)
    assert (report.task, report.items, report.chance) == ("quality-dev", 12, 0.5)
    longer = next(s for s in report.shortcuts if s.name == "longer choice")
    assert (longer.correct, longer.passes) == (12, False)
    assert all(s.accuracy is not None for s in report.shortcuts)  # twelve items: the regressions ran too


def test_json_output_carries_the_numbers_of_the_table(tmp_path: Path) -> None:
    path = str(_longer_wins(tmp_path))
    table = _audit(path)
    output = _audit(path, "--json")
    assert output.returncode == table.returncode == 1
    data = json.loads(output.stdout)
    assert data["schema_version"] == 1
    assert (data["task"], data["items"], data["chance"], data["passes"]) == ("longer", 6, 0.5, False)
    assert [s["name"] for s in data["shortcuts"]] == [*LONGER_WINS_ACCURACY, *REGRESSIONS]
    for shortcut in data["shortcuts"]:
        row = _row(table.stdout, shortcut["name"])
        if shortcut["accuracy"] is None:
            assert shortcut["note"] in row
            continue
        assert shortcut["correct"] / shortcut["items"] == shortcut["accuracy"]
        ci = shortcut["ci95"]
        assert f"{shortcut['accuracy']:.1%}" in row
        assert f"[{ci['low']:.1%}, {ci['high']:.1%}]" in row
        assert ("pass" if shortcut["passes"] else "FAIL") in row


def test_limit_audits_only_the_first_items(tmp_path: Path) -> None:
    result = _audit(str(_balanced(tmp_path)), "--json", "--limit", "4")
    data = json.loads(result.stdout)
    assert data["items"] == 4
    assert all(s["items"] == 4 for s in data["shortcuts"])


def _one_line_error(result: CliResult, *fragments: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_an_unknown_task_name_is_one_line_and_exit_code_2(workdir: Path) -> None:
    _one_line_error(_audit("no-such-task"), "unknown task 'no-such-task'")


def test_a_malformed_task_file_is_one_line_and_exit_code_2(workdir: Path) -> None:
    (workdir / "bad.jsonl").write_text('{"id": "1", "question": "q", "choices": ["a", "b"], "answer": 0}\n{"id": ')
    _one_line_error(_audit("bad.jsonl"), "bad.jsonl:2", "not valid JSON")


def test_a_task_without_multiple_choice_items_is_one_line_and_exit_code_2(workdir: Path) -> None:
    _write_items(workdir / "open.jsonl", [{"id": "1", "question": "What is 6 times 7?", "answer": "42"}])
    _one_line_error(_audit("open.jsonl"), "open.jsonl", "no multiple-choice items")


def test_the_regressions_are_not_credited_for_remembering_a_question_seen_in_training(tmp_path: Path) -> None:
    # each question comes three times, far apart in the file, with the same answer; only its words tell the answer
    places = [("harbour", "lantern"), ("orchard", "quarry"), ("meadow", "chapel"), ("tannery", "mill"),
              ("ferry", "forge"), ("bridge", "well"), ("tower", "barn"), ("market", "dock"), ("abbey", "inn"),
              ("castle", "pier")]
    rows = [
        {"id": f"trail-{n}-{copy}", "question": f"Where did trail {n} end?",
         "choices": [f"at the {a}", f"at the {b}"], "answer": n % 2}
        for copy in range(3) for n, (a, b) in enumerate(places)
    ]
    report = audit_task(load_task(str(_write_items(tmp_path / "repeats.jsonl", rows))))
    for shortcut in report.shortcuts:
        if shortcut.name in REGRESSIONS:
            assert shortcut.passes, (shortcut.name, shortcut.accuracy)


def test_a_cue_word_in_the_sentence_a_lone_consultant_would_quote_fails_the_audit(tmp_path: Path) -> None:
    # the true sentence says "finally", the misleading one "once"; sentence order and answer position are balanced
    # every place is named in one item only, so the choices' own words teach the regressions nothing
    places = ["attic", "cellar", "garden", "stable", "pantry", "porch", "study", "garage", "shed", "loft",
              "kitchen", "hallway", "library", "nursery", "cottage", "dungeon", "gallery", "chapel", "tower", "barn",
              "forge", "mill", "harbour", "orchard", "quarry", "meadow", "abbey", "inn", "pier", "dock",
              "market", "bridge", "well", "tannery", "lighthouse", "granary", "vestry", "belfry", "crypt", "cloister"]
    rows = []
    for n in range(20):
        truth, decoy = places[n], places[20 + n]
        true_sentence, decoy_sentence = f"The key finally rested in the {truth}.", f"The key once rested in the {decoy}."
        passage = f"{true_sentence} {decoy_sentence}" if n // 2 % 2 else f"{decoy_sentence} {true_sentence}"
        choices = [f"the {truth}", f"the {decoy}"] if n % 2 else [f"the {decoy}", f"the {truth}"]
        rows.append({"id": f"key-{n}", "question": f"Where is key {n} now?", "choices": choices,
                     "answer": choices.index(f"the {truth}"), "passage": passage})
    report = audit_task(load_task(str(_write_items(tmp_path / "cue.jsonl", rows))))
    verdicts = {shortcut.name: shortcut.passes for shortcut in report.shortcuts}
    assert verdicts["regression: lone quote"] is False
    assert verdicts["regression: blind"] and verdicts["latest support"] and verdicts["earliest support"]
    assert not report.passes


MULTIPLE_CHOICE = [name for name in TASKS.names() if any(i.multiple_choice for i in TASKS.get(name)(0).items)]


@pytest.mark.parametrize("task", MULTIPLE_CHOICE)
def test_every_builtin_multiple_choice_task_passes_its_own_audit(task: str) -> None:
    report = audit_task(load_task(task, seed=0), seed=0)
    assert report.items >= 200
    failing = [s.name for s in report.shortcuts if s.passes is False]
    assert report.passes, failing
