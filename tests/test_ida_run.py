"""The ida protocol end to end: oracle accuracy, tree records, memo, budgets, malformed replies, iterations, HTTP."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from oversight.protocols.ida.policies import oracle
from oversight.protocols.ida.tree import parse_answer, parse_decomposition

from oversight.models import BACKENDS
from oversight.models.base import ChatMessage, Completion, GenerationSettings, ModelBackend, Request
from oversight.runner import RunConfig, execute
from oversight.tasks.decomposable import FAMILIES, canonical_question

from .conftest import oversight, oversight_in_process, read_lines

NODE_FIELDS = {
    "id", "parent", "depth", "question", "subquestions", "children", "answer", "mode", "reason", "memo", "memo_of",
    "calls", "tokens", "budget", "spent", "malformed", "turns", "exact", "correct",
}


def _run(workdir: Path, out: str, *args: str) -> tuple[list[dict], dict]:
    result = oversight("run", "ida", "--out", out, *args)
    assert result.returncode == 0, result.stderr
    summary = json.loads((workdir / out / "summary.json").read_text())
    return read_lines(workdir / out / "transcripts.jsonl"), summary["metrics"]["ida"]


def _run_in_process(workdir: Path, out: str, **config: Any) -> list[dict]:
    result = asyncio.run(execute(RunConfig(protocol="ida", out=workdir / out, **config), ["test"]))
    assert result.status == "complete"
    return [r.model_dump(mode="json") for r in result.folder.records()]


def _amplified(records: list[dict]) -> list[dict]:
    return [r for r in records if r["meta"]["mode"] == "amplified"]


def _subtree_calls(tree: list[dict], node_id: str) -> int:
    return sum(n["calls"] for n in tree if n["id"] == node_id or n["id"].startswith(node_id + "."))


@pytest.mark.parametrize("task", [t.name for t in FAMILIES])
def test_the_oracle_scores_100_percent_at_every_difficulty(workdir: Path, task: str) -> None:
    records, metrics = _run(workdir, "run", "--task", task, "--model", "scripted/oracle")
    assert len(records) == 80 and all(r["status"] == "complete" and r["correct"] for r in records)
    table = metrics["amplified_vs_direct"]
    assert [row["difficulty"] for row in table] == [1, 2, 3, 4]
    for row in table:
        assert (row["items"], row["amplified"], row["direct"]) == (10, 1.0, 1.0)
        assert 0 < row["amplified_ci95"][0] < 1.0 == row["amplified_ci95"][1]
        assert row["calls_per_item"] >= 1 and row["tokens_per_item"] > 0
    assert metrics["decomposed_nodes"] > 0
    assert metrics["forced_budget"] == metrics["forced_max_depth"] == metrics["forced_malformed"] == 0
    assert table[-1]["calls_per_item"] > table[0]["calls_per_item"]  # harder items build bigger trees


def test_tree_records_are_complete_and_consistent(workdir: Path) -> None:
    records, _ = _run(workdir, "run", "--task", "shortest-path", "--model", "scripted/oracle", "--limit", "8")
    assert {r["sample"] for r in records} == {0, 1} and len({r["game_id"] for r in records}) == 16
    for record in records:
        tree = record["meta"]["tree"]
        by_id = {n["id"]: n for n in tree}
        assert len(by_id) == len(tree) and tree[0]["id"] == "1" and tree[0]["parent"] is None
        assert tree[0]["answer"] == record["meta"]["answer"] and tree[0]["exact"] == record["answer"]
        for node in tree:
            assert NODE_FIELDS <= set(node), NODE_FIELDS - set(node)
            assert node["answer"] is not None and node["correct"] is True
            assert node["exact"] is not None
            if node["parent"] is not None:
                parent = by_id[node["parent"]]
                assert node["depth"] == parent["depth"] + 1 and node["id"] in parent["children"]
            if node["mode"] == "decomposed":
                assert [by_id[c]["question"] for c in node["children"]] == node["subquestions"]
            assert node["mode"] == "memo" or node["spent"] <= node["budget"]
        turns = record["turns"]
        assert sum(n["calls"] for n in tree) == len(turns) == len(record["calls"]) == record["meta"]["calls"]
        assert sorted(i for n in tree for i in n["turns"]) == list(range(len(turns)))
        for node in tree:
            assert all(turns[i]["meta"]["node"] == node["id"] for i in node["turns"])
        tokens = sum(n["tokens"]["prompt"] + n["tokens"]["completion"] for n in tree)
        assert tokens == record["meta"]["tokens"] == sum(
            c["usage"]["prompt_tokens"] + c["usage"]["completion_tokens"] for c in record["calls"]
        )
    direct = [r for r in records if r["meta"]["mode"] == "direct"]
    assert all(len(r["turns"]) == 1 and r["turns"][0]["role"] == "answerer" for r in direct)


def test_memo_hits_within_a_tree_are_recorded_and_cost_nothing(workdir: Path) -> None:
    records, metrics = _run(workdir, "run", "--task", "permutation-powering", "--model", "scripted/oracle")
    hits = 0
    for record in _amplified(records):
        by_id = {n["id"]: n for n in record["meta"]["tree"]}
        for node in by_id.values():
            if node["memo"] == "tree":
                hits += 1
                source = by_id[node["memo_of"]["node"]]
                assert canonical_question(source["question"]) == canonical_question(node["question"])
                assert source["mode"] != "memo" and source["answer"] == node["answer"]
                assert node["calls"] == 0 and node["turns"] == [] and node["spent"] == 0
    assert hits == metrics["memo_hits_tree"] > 0
    off, metrics_off = _run(workdir, "off", "--task", "permutation-powering", "--model", "scripted/oracle",
                            "--set", "memo=off")
    assert metrics_off["memo_hits_tree"] == metrics_off["memo_hits_run"] == 0
    assert all(r["correct"] for r in off)
    assert sum(len(r["calls"]) for r in _amplified(off)) > sum(len(r["calls"]) for r in _amplified(records))


def test_memo_hits_across_the_run_name_the_tree_they_came_from(workdir: Path) -> None:
    shared = "(4 * 3) - (9 - 2)"
    lines = [{"id": f"q{i}", "question": f"What is the value of the arithmetic expression {shared} + {i}?",
              "answer": str(5 + i)} for i in range(1, 5)]
    (workdir / "shared.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    records, metrics = _run(workdir, "run", "--task", "shared.jsonl", "--model", "scripted/oracle",
                            "--set", "baseline=false", "--max-connections", "1")
    assert len(records) == 4 and all(r["correct"] for r in records)
    ids = {r["game_id"] for r in records}
    run_hits = [n for r in records for n in r["meta"]["tree"] if n["memo"] == "run"]
    assert run_hits and len(run_hits) == metrics["memo_hits_run"]
    for node in run_hits:
        assert node["memo_of"]["game"] in ids and node["calls"] == 0
    _, m = _run(workdir, "tree", "--task", "shared.jsonl", "--model", "scripted/oracle",
                        "--set", "baseline=false", "--set", "memo=tree", "--max-connections", "1")
    assert m["memo_hits_run"] == 0


@pytest.mark.parametrize(("max_calls", "child_share"), [(1, 0.5), (3, 1.0), (9, 0.5), (9, 1.0), (20, 0.3), (46, 1.0)])
def test_budgets_are_never_exceeded(workdir: Path, max_calls: int, child_share: float) -> None:
    records = _run_in_process(
        workdir, "run", task="wildcard-search", limit=8, model="scripted/oracle",
        options={"max_calls": max_calls, "child_share": child_share, "baseline": False},
    )
    for record in records:
        tree = record["meta"]["tree"]
        assert len(record["calls"]) <= max_calls
        assert record["correct"]  # the oracle's forced answers are exact too
        for node in tree:
            assert _subtree_calls(tree, node["id"]) <= node["budget"]
            if node["parent"] is not None:
                parent = next(n for n in tree if n["id"] == node["parent"])
                assert node["budget"] == int(child_share * parent["budget"])
    hardest = [r for r in records if r["meta"]["difficulty"] == 4]
    if max_calls < 46:  # a full tree needs 46 calls
        assert all(any(n["reason"] == "budget" for n in r["meta"]["tree"]) for r in hardest)


def test_max_depth_stops_decomposition(workdir: Path) -> None:
    records = _run_in_process(workdir, "run", task="union-find", limit=8, model="scripted/oracle",
                              options={"max_depth": 1, "baseline": False})
    for record in records:
        tree = record["meta"]["tree"]
        assert max(n["depth"] for n in tree) <= 1
        for node in tree:
            if node["depth"] == 1 and node["exact"] is not None and node["mode"] == "forced":
                assert node["reason"] == "max_depth" and node["calls"] == 1
    assert any(n["reason"] == "max_depth" for r in records for n in r["meta"]["tree"])


def test_an_unreadable_decomposition_is_asked_again_then_answered_directly(workdir: Path) -> None:
    records, metrics = _run(workdir, "run", "--task", "nested-arithmetic", "--limit", "4", "--model", "scripted/oracle",
                            "--role", "decomposer=scripted/constant?text=Let me think.")
    for record in _amplified(records):
        assert [(t["role"], t["meta"]["step"]) for t in record["turns"]] == [
            ("decomposer", "decompose"), ("decomposer", "decompose-retry"), ("answerer", "answer")
        ]
        (root,) = record["meta"]["tree"]
        assert (root["mode"], root["reason"], root["malformed"], root["calls"]) == ("forced", "malformed", 2, 3)
        assert record["correct"]
    assert metrics["forced_malformed"] == 4 and metrics["malformed_replies"] == 8


def test_json_sub_questions_are_read_and_a_repeated_question_is_dropped(workdir: Path) -> None:
    sub = "What is the value of the arithmetic expression 2 * 3?"
    records, _ = _run(workdir, "run", "--task", "nested-arithmetic", "--limit", "2", "--model", "scripted/oracle",
                      "--role", f'decomposer=scripted/constant?text=["{sub}"]', "--set", "baseline=false",
                      "--set", "memo=tree")
    for record in records:
        tree = {n["id"]: n for n in record["meta"]["tree"]}
        assert tree["1"]["subquestions"] == [sub] and tree["1"]["mode"] == "decomposed"
        child = tree["1.1"]  # asked to split itself into itself: dropped, asked again, then answered
        assert (child["mode"], child["reason"], child["answer"]) == ("forced", "malformed", "6")
        assert any("repeating" in note for note in child["notes"])
        assert record["correct"]  # the oracle aggregator answers exactly when the split is not its own


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("SUB: a?\nSUB: b?", "subquestions", ["a?", "b?"]),
        ("1. **Sub-question 1:** a?\n2. Sub-question 2: b?", "subquestions", ["a?", "b?"]),
        ('```json\n["a?", "b?"]\n```', "subquestions", ["a?", "b?"]),
        ('{"subquestions": ["a?"]}', "subquestions", ["a?"]),
        ("Sure. Here they are: [\"a?\", \"b?\"]", "subquestions", ["a?", "b?"]),
        ("ANSWER: 42", "answer", "42"),
        ("**Answer:** 42", "answer", "42"),
        ('{"answer": 42}', "answer", "42"),
        ("I think it is 42.", "malformed", None),
        ("ANSWER:", "malformed", None),
        ("", "malformed", None),
    ],
)
def test_decomposer_replies_are_parsed_leniently(text: str, kind: str, value: Any) -> None:
    parsed = parse_decomposition(text)
    assert parsed.kind == kind
    if kind == "subquestions":
        assert parsed.subquestions == value
    if kind == "answer":
        assert parsed.answer == value


def test_answers_are_read_from_the_last_answer_line() -> None:
    assert parse_answer("thinking...\nANSWER: 7\n") == ("7", True)
    assert parse_answer("ANSWER: 3\nFinal answer: 5") == ("5", True)
    assert parse_answer("It is 12.") == ("It is 12.", False)


def test_noisy_oracle_accuracy_falls_with_depth(workdir: Path) -> None:
    records, metrics = _run(workdir, "run", "--task", "nested-arithmetic", "--model", "scripted/noisy-oracle?p=0.2")
    amplified = {row["difficulty"]: row["amplified"] for row in metrics["amplified_vs_direct"]}
    assert amplified[1] >= amplified[4] + 0.2
    assert 0.0 < metrics["amplified_accuracy"] < 1.0
    nodes = [n for r in _amplified(records) for n in r["meta"]["tree"]]
    assert [n for n in nodes if n["mode"] == "answered" and not n["correct"]]  # the errors start at leaves …
    assert [n for n in nodes if n["mode"] == "decomposed" and not n["correct"]]  # … and travel up the tree
    again, _ = _run(workdir, "again", "--task", "nested-arithmetic", "--model", "scripted/noisy-oracle?p=0.2")
    assert sorted((r["game_id"], r["meta"]["answer"]) for r in again) == sorted(
        (r["game_id"], r["meta"]["answer"]) for r in records
    )  # deterministic: the noise is fixed by the question text


def test_two_iterations_distil_into_files_and_in_context_examples(workdir: Path) -> None:
    records, metrics = _run(workdir, "run", "--task", "nested-arithmetic", "--limit", "8", "--model", "scripted/oracle",
                            "--role", "answerer=scripted/echo", "--iterations", "2", "--set", "examples=2")
    assert len(records) == 32 and {r["phase"] for r in records} == {0, 1}
    assert [row["iteration"] for row in metrics["per_iteration"]] == [1, 2]
    assert {row["iteration"] for row in metrics["amplified_vs_direct"]} == {1, 2}
    for name in ("distilled-1.jsonl", "distilled-2.jsonl"):
        rows = read_lines(workdir / "run" / name)
        assert rows
        for row in rows:
            assert list(row) == ["messages"]
            assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
            assert row["messages"][2]["content"].startswith("ANSWER: ")
    pairs = read_lines(workdir / "run" / "distilled-pairs.jsonl")
    assert {p["iteration"] for p in pairs} == {1, 2} and {"root", "node"} >= {p["source"] for p in pairs}
    for record in records:
        examples = record["meta"]["examples"]
        if record["phase"] == 0:
            assert examples == []
            continue
        assert len(examples) == 2 and all(e["item_id"] != record["item_id"] and e["iteration"] == 1 for e in examples)
        if record["meta"]["mode"] == "direct":  # the echoing answerer shows what it was shown
            prompt = record["turns"][0]["content"]
            assert "<examples>" in prompt and examples[0]["question"] in prompt


def test_sub_questions_run_concurrently(workdir: Path) -> None:
    in_flight, most = 0, 0

    class Slow(ModelBackend):
        provider: ClassVar[str] = "slow"
        cacheable: ClassVar[bool] = False
        known_params: ClassVar[frozenset[str] | None] = None

        async def send(self, request: Request) -> Completion:
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            return oracle(request.messages, request.settings, request.sample, {})

    BACKENDS.add("slow", Slow)
    records = _run_in_process(workdir, "run", task="wildcard-search", limit=4, model="slow/oracle",
                              options={"baseline": False}, max_connections=1)
    assert len(records) == 4 and all(r["correct"] for r in records)
    assert most >= 8  # max_connections=1 → two games at a time; wildcard d4 has 16 leaves in flight together


def test_an_http_run_against_the_loopback_server_builds_full_trees(openai_env: dict[str, str], workdir: Path) -> None:
    result = oversight("run", "ida", "--task", "union-find", "--limit", "8", "--model", "openai/oracle", "--out", "run",
                       env=openai_env)
    assert result.returncode == 0, result.stderr
    records = read_lines(workdir / "run" / "transcripts.jsonl")
    assert len(records) == 16 and all(r["status"] == "complete" and r["correct"] for r in records)
    for record in _amplified(records):
        tree = record["meta"]["tree"]
        assert len(tree) >= 3 and tree[0]["mode"] == "decomposed"
        assert all(c["model"] == "openai/oracle" for c in record["calls"])
        assert all(n["correct"] for n in tree)
    summary = json.loads((workdir / "run" / "summary.json").read_text())
    assert [row["amplified"] for row in summary["metrics"]["ida"]["amplified_vs_direct"]] == [1.0] * 4


def test_show_renders_the_tree(workdir: Path) -> None:
    records, _ = _run(workdir, "run", "--task", "wildcard-search", "--limit", "2",
                      "--model", "scripted/noisy-oracle?p=0.5")
    record = next(r for r in _amplified(records) if r["meta"]["difficulty"] == 2)
    shown = oversight_in_process("show", "run", record["game_id"][:10], env={"COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "[1.1.2]" in out and "budget 100" in out and "budget 50" in out and "decomposed into 2" in out
    assert f"answer: {record['meta']['answer']}" in out and f"expected: {record['answer']}" in out
    for node in record["meta"]["tree"]:
        assert f"→ {node['answer']}" in out
    listing = oversight_in_process("show", "run")
    assert listing.returncode == 0 and "amplified vs direct" in listing.stdout


def test_open_ended_file_and_multiple_choice_items(workdir: Path) -> None:
    (workdir / "mine.jsonl").write_text(
        '{"id": "a", "question": "What is the value of the arithmetic expression (2 * 5) + 1?", "answer": "11"}\n'
        '{"id": "b", "question": "What colour is the sky?", "answer": "blue"}\n'
    )
    records, _ = _run(workdir, "run", "--task", "mine.jsonl", "--model", "scripted/oracle")
    by_item = {(r["item_id"], r["meta"]["mode"]): r for r in records}
    assert by_item[("a", "amplified")]["correct"] and by_item[("a", "direct")]["correct"]
    assert by_item[("b", "amplified")]["meta"]["answer"] == "unknown" and not by_item[("b", "amplified")]["correct"]
    records, _ = _run(workdir, "mc", "--task", "mini-stories", "--limit", "1",
                      "--model", "scripted/constant?text=ANSWER: A")
    for record in records:
        assert "Choices: A." in record["meta"]["tree"][0]["question"]
        assert record["correct"] == (record["answer"] == 0)


def test_bad_settings_are_one_line_errors(workdir: Path) -> None:
    for setting in ("child_share=0", "memo=sometimes", "max_calls=0", "no_such=1"):
        result = oversight_in_process("run", "ida", "--task", "union-find", "--set", setting)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, (setting, result.stderr)
    listing = oversight_in_process("protocols")
    assert "ida" in listing.stdout and "decomposer" in listing.stdout
    tasks = oversight_in_process("tasks")
    assert all(t.name in tasks.stdout for t in FAMILIES)


def test_branches_asking_for_each_other_do_not_deadlock(workdir: Path) -> None:
    """R splits into A and B; A asks for B and B asks for A: a wait that would close a cycle is not taken."""
    from oversight.policies import POLICIES
    from oversight.policies.text import plain, prompt_text, section

    splits = {"question r": ["Question A", "Question B"], "question a": ["Question B"], "question b": ["Question A"]}

    def crossing(messages: list[ChatMessage], settings: GenerationSettings, sample: int, params: dict) -> Completion:
        prompt = prompt_text(messages)
        question = canonical_question(section(prompt, "question") or "")
        if "SUB:" in prompt and "<subanswers>" not in prompt and question in splits:
            return plain("\n".join(f"SUB: {q}" for q in splits[question]), prompt)
        return plain(f"ANSWER: {question[-1]}", prompt)

    POLICIES.add("crossing", crossing)
    (workdir / "r.jsonl").write_text('{"id": "r", "question": "Question R", "answer": "r"}\n')
    result = asyncio.run(asyncio.wait_for(
        execute(RunConfig(protocol="ida", task="r.jsonl", model="scripted/crossing", out=workdir / "run",
                          options={"baseline": False, "memo": "tree"}), ["test"]),
        timeout=60,
    ))
    (record,) = result.folder.records()
    assert record.status == "complete" and record.correct
    tree = record.meta["tree"]
    assert all(node["answer"] is not None for node in tree)
    assert max(node["depth"] for node in tree) <= 3
    assert any("waiting on this branch" in note for node in tree for note in node["notes"])


def test_answerer_and_aggregator_follow_the_decomposer(workdir: Path) -> None:
    records, _ = _run(workdir, "follow", "--task", "nested-arithmetic", "--limit", "2", "--role", "decomposer=scripted/oracle")
    assert all(r["roles"] == {"decomposer": "scripted/oracle", "answerer": "scripted/oracle",
                              "aggregator": "scripted/oracle"} for r in records)
    assert all(r["correct"] for r in records)
