"""ida distillation, protocol side: the ``distill`` and ``held_out`` options, the held-out split, the rows
``distillation()`` hands the engine, ``check_roles``, the distillation figures against hand counts, delegation to
the answerer, and the scripted overseer that decomposes and aggregates but answers nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from oversight.protocols.ida.metrics import IdaMetrics, distilled_pairs, ida_metrics, sft_row
from oversight.protocols.ida.plots import ida_plots
from oversight.protocols.ida.policies import UNKNOWN, overseer
from oversight.protocols.ida.protocol import DELEGATE, Ida, IdaOptions, delegates, is_held_out

from oversight.errors import UserError
from oversight.models.base import ChatMessage, GenerationSettings
from oversight.records import GameRecord
from oversight.runner import RunConfig, execute
from oversight.scoring import wilson_interval
from oversight.tasks.decomposable import FAMILIES
from oversight.tasks.items import TaskItem

from .conftest import oversight_in_process, read_lines

EXPR = "What is the value of the arithmetic expression {}?"
#: (id, expression, value, difficulty); at the default held_out=0.25 and seed 0, b, c and e are held out
TINY = [
    ("a", "(2 * 3) + (4 - 1)", 9, 2),
    ("d", "((1 + 2) * 3) - 4", 5, 3),
    ("f", "7 + 2", 9, 1),
    ("e", "(5 - 2) * (3 + 1)", 12, 2),
    ("b", "4 + 5", 9, 1),
    ("c", "(2 * 4) + 1", 9, 2),
]
HELD_OUT = {"b", "c", "e"}
OVERSEEN = {"decomposer": "scripted/overseer", "aggregator": "scripted/overseer"}
#: the learner of the tiny runs says 9 to everything: right on a, f, b, c answered directly, wrong on d, e
NINE = "scripted/constant?text=ANSWER: 9"
#: the answerer's prompt as the built-in template writes it, which the rows put before the answer
SYSTEM = "Answer the question. Give only the final answer, in the form the question asks for."
USER = "<question>\n{}\n</question>\n\nReply with one line: ANSWER: followed by the answer."


def _items() -> list[TaskItem]:
    return [TaskItem(id=i, question=EXPR.format(e), answer=str(v), meta={"difficulty": d}) for i, e, v, d in TINY]


def _write_tiny(workdir: Path) -> str:
    lines = [{"id": i, "question": EXPR.format(e), "answer": str(v), "meta": {"difficulty": d}} for i, e, v, d in TINY]
    (workdir / "tiny.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return "tiny.jsonl"


def _play(workdir: Path, out: str, roles: dict[str, str], **config: Any) -> list[GameRecord]:
    result = asyncio.run(execute(RunConfig(protocol="ida", out=workdir / out, roles=roles, **config), ["test"]))
    assert result.status == "complete"
    return list(result.folder.records())


def _tiny_run(workdir: Path, answerer: str = NINE, **options: Any) -> list[GameRecord]:
    """The tiny task over two iterations with nothing distilled between them (the engine's training is not this
    file's business): the records ``distillation()`` is then asked about."""
    return _play(workdir, "tiny", {**OVERSEEN, "answerer": answerer}, task=_write_tiny(workdir),
                 options={"iterations": 2, "distill": "none", **options})


def _row(question: str, answer: str) -> dict[str, Any]:
    return {"messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": USER.format(question)},
        {"role": "assistant", "content": f"ANSWER: {answer}"},
    ]}  # fmt: skip


# -- options ------------------------------------------------------------------------------------------------------
def test_the_options_default_to_in_context_distillation_with_a_quarter_held_out() -> None:
    options = IdaOptions()
    assert (options.distill, options.held_out) == ("context", 0.25)
    assert IdaOptions(distill="lora", iterations=2).distill == "lora"
    assert IdaOptions(distill="none", held_out=0).held_out == 0
    assert IdaOptions(distill="export", iterations=3, held_out=0.5).distill == "export"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (("--set", "distill=sometimes"), "ida option distill"),
        (("--set", "held_out=1"), "ida option held_out"),
        (("--set", "held_out=-0.1"), "ida option held_out"),
        (("--set", "distill=lora"), "distill=lora distils one iteration into the next, so it needs --iterations 2"),
        (("--set", "distill=export", "--iterations", "1"), "distill=export distils one iteration into the next"),
    ],
)
def test_bad_distillation_settings_are_one_line_errors(workdir: Path, settings: tuple[str, ...], message: str) -> None:
    result = oversight_in_process("run", "ida", "--task", "nested-arithmetic", *settings)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr


# -- the held-out split -------------------------------------------------------------------------------------------
def test_the_held_out_split_is_a_seeded_hash_of_the_item_id() -> None:
    ids = [f"item-{i}" for i in range(2000)]
    held = {i for i in ids if is_held_out(i, 0, 0.25)}
    assert 0.22 < len(held) / len(ids) < 0.28
    assert held == {i for i in ids if is_held_out(i, 0, 0.25)}  # the same every time
    assert {i for i in ids if is_held_out(i, 0, 0.1)} < held < {i for i in ids if is_held_out(i, 0, 0.4)}
    assert held != {i for i in ids if is_held_out(i, 1, 0.25)}  # another seed, another split
    assert not any(is_held_out(i, 0, 0.0) for i in ids)
    assert {i for i, *_ in TINY if is_held_out(i, 0, 0.25)} == HELD_OUT  # what the tiny runs below rely on


def test_setups_mark_the_same_items_held_out_whatever_the_phase_or_the_items_played() -> None:
    task = FAMILIES[0]
    items = list(task.task_set().items)
    protocol = Ida(IdaOptions(iterations=3))

    def held(chosen: list[TaskItem], phase: int = 0, seed: int = 7) -> dict[str, bool]:
        flags: dict[str, bool] = {}
        for setup in protocol.setups(task.name, chosen, phase=phase, seed=seed):
            assert flags.setdefault(setup.item.id, setup.context["held_out"]) == setup.context["held_out"]
        return flags

    everything = held(items)
    assert 0 < sum(everything.values()) < len(items)
    assert everything == {i.id: is_held_out(i.id, 7, 0.25) for i in items}
    assert held(items[:8]) == {i.id: everything[i.id] for i in items[:8]}  # a smaller --limit, a resumed run
    assert held(items[5:], phase=2) == {i.id: everything[i.id] for i in items[5:]}
    assert held(items, seed=8) != everything


def test_every_game_records_whether_its_item_is_held_out_and_both_games_are_played(workdir: Path) -> None:
    records = _tiny_run(workdir)
    assert len(records) == 2 * 2 * len(TINY)  # two iterations, amplified and direct, every item
    for record in records:
        assert record.meta["held_out"] is (record.item_id in HELD_OUT)
    assert {(r.item_id, r.phase, r.meta["mode"]) for r in records} == {
        (i, phase, mode) for i, *_ in TINY for phase in (0, 1) for mode in ("amplified", "direct")
    }


def test_a_training_run_that_holds_out_every_item_is_refused_before_it_plays(workdir: Path) -> None:
    protocol = Ida(IdaOptions(distill="lora", iterations=2, held_out=0.99))
    items = [i for i in _items() if i.id == "e"]
    with pytest.raises(UserError, match="held_out=0.99 holds out every one of the 1 items"):
        list(protocol.setups("tiny", items, seed=0))
    assert list(Ida(IdaOptions(held_out=0.99)).setups("tiny", items, seed=0))  # in context: nothing to train


# -- what is distilled ------------------------------------------------------------------------------------------
def test_distillation_hands_the_engine_the_trained_items_pairs_of_the_phase(workdir: Path) -> None:
    records = _tiny_run(workdir)
    for method in ("lora", "export"):
        request = Ida(IdaOptions(distill=method, iterations=2)).distillation(0, records)
        assert request is not None
        assert (request.phase, request.role, request.method) == (0, "answerer", method)
        # the trees' answers, not the exact ones: the learner says 9 to every leaf and the overseer adds them up;
        # the roots of a, d and f and d's decomposed node (1 + 2) * 3, never anything of b, c or e
        expected = [
            _row(EXPR.format("(2 * 3) + (4 - 1)"), "18"),
            _row(EXPR.format("((1 + 2) * 3) - 4"), "23"),
            _row(EXPR.format("(1 + 2) * 3"), "27"),
            _row(EXPR.format("7 + 2"), "9"),
        ]
        assert sorted(request.rows, key=json.dumps) == sorted(expected, key=json.dumps)
    # the same rows the run wrote for iteration 1, and none of a held-out item
    request = Ida(IdaOptions(distill="lora", iterations=2)).distillation(0, records)
    assert request is not None
    written = read_lines(workdir / "tiny" / "distilled-1.jsonl")
    assert sorted(written, key=json.dumps) == sorted(request.rows, key=json.dumps)
    pairs = read_lines(workdir / "tiny" / "distilled-pairs.jsonl")
    assert {p["item_id"] for p in pairs if p["held_out"]} == HELD_OUT
    assert all(p["item_id"] not in HELD_OUT for p in pairs if not p["held_out"])


def test_distillation_reads_only_its_own_phase(workdir: Path) -> None:
    records = _tiny_run(workdir)
    protocol = Ida(IdaOptions(distill="lora", iterations=3))
    request = protocol.distillation(1, records)  # iteration 2 of 3: its own trees, the same questions
    assert request is not None and request.phase == 1 and len(request.rows) == 4
    with pytest.raises(UserError, match="iteration 2 gave no"):  # phase 0's games are not phase 1's
        protocol.distillation(1, [r for r in records if r.phase == 0])


def test_nothing_is_distilled_after_the_last_iteration_or_in_context_or_none(workdir: Path) -> None:
    records = _tiny_run(workdir)
    assert Ida(IdaOptions(distill="lora", iterations=2)).distillation(1, records) is None
    assert Ida(IdaOptions(distill="export", iterations=2)).distillation(1, records) is None
    for distill in ("context", "none"):
        assert Ida(IdaOptions(distill=distill, iterations=2)).distillation(0, records) is None


def test_a_phase_with_only_held_out_trees_has_nothing_to_train_on(workdir: Path) -> None:
    records = [r for r in _tiny_run(workdir) if r.item_id in HELD_OUT]
    with pytest.raises(UserError, match="iteration 1 gave no .* pairs to distil"):
        Ida(IdaOptions(distill="lora", iterations=2)).distillation(0, records)


def test_training_and_the_control_show_no_in_context_examples_and_context_shows_no_held_out_pair(
    workdir: Path,
) -> None:
    records = _tiny_run(workdir, answerer="scripted/oracle")
    earlier = [r for r in records if r.phase == 0]
    for distill in ("lora", "export", "none"):
        setups = Ida(IdaOptions(distill=distill, iterations=2)).setups("tiny", _items(), 1, earlier, seed=0)
        assert all(s.context["examples"] == [] for s in setups)
    setups = list(Ida(IdaOptions(iterations=2, examples=5)).setups("tiny", _items(), 1, earlier, seed=0))
    shown = {e["item_id"] for s in setups for e in s.context["examples"]}
    assert shown == {"a", "d", "f"}  # the trained items' pairs only
    assert all(e["item_id"] != s.item.id for s in setups for e in s.context["examples"])
    # and in the games: a held-out item's pairs are never an example
    played = _play(workdir, "context", {**OVERSEEN, "answerer": "scripted/oracle"}, task="tiny.jsonl",
                   options={"iterations": 2})
    assert all(e["item_id"] not in HELD_OUT for r in played for e in r.meta["examples"])
    assert any(r.meta["examples"] for r in played if r.phase == 1)


def test_sft_rows_are_the_answerers_prompt_then_the_answer() -> None:
    pair = {"question": EXPR.format("1 + 1"), "answer": "2"}
    assert sft_row(pair) == _row(EXPR.format("1 + 1"), "2")


# -- check_roles --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["openai/gpt-4o", "llamacpp/qwen", "scripted/oracle", "anthropic/claude"])
def test_lora_refuses_an_answerer_that_is_not_a_local_model(spec: str) -> None:
    protocol = Ida(IdaOptions(distill="lora", iterations=2))
    roles = {"decomposer": "scripted/overseer", "answerer": spec, "aggregator": "scripted/overseer"}
    with pytest.raises(UserError) as caught:
        protocol.check_roles(roles)
    message = str(caught.value)
    assert message == (
        f"ida option distill=lora fine-tunes the answerer's model, and '{spec}' is not a local/ model "
        "(use distill=export for a hosted model)"
    )
    assert "\n" not in message


def test_check_roles_accepts_what_can_serve() -> None:
    local = {"decomposer": "scripted/overseer", "answerer": "local/Qwen/Qwen2.5-0.5B-Instruct",
             "aggregator": "scripted/overseer"}
    Ida(IdaOptions(distill="lora", iterations=2)).check_roles(local)
    Ida(IdaOptions(distill="lora", iterations=2)).check_roles({**local, "answerer": "local/m?adapter=run/distilled-1"})
    hosted = {**local, "answerer": "openai/gpt-4o"}
    for options in (IdaOptions(distill="export", iterations=2), IdaOptions(), IdaOptions(distill="none")):
        Ida(options).check_roles(hosted)


# -- the figures --------------------------------------------------------------------------------------------------
def test_the_distillation_figures_match_a_hand_count(workdir: Path) -> None:
    """The learner says 9. Directly: right on a, f (trained) and b, c (held out), wrong on d (trained) and e (held
    out). Amplified, leaves are 9 and the overseer combines them: f and b (one leaf each) are right, a → 18,
    d → 23, e → 81, c → 10 are wrong. Trees of trained items give pairs: a's root, d's root and its node, f's root."""
    metrics = ida_metrics(_tiny_run(workdir), max_calls=100)
    ci = {(0, 1): [0.0, 0.793], (1, 1): [0.207, 1.0], (1, 2): [0.095, 0.905], (2, 3): [0.208, 0.939]}
    # (iteration, held-out n, correct, trained n, correct, amplified, pairs), both iterations the same
    per_iteration = [(it, 3, 2, 3, 2, 2 / 6, 4) for it in (1, 2)]
    assert [
        (r.iteration, r.held_out_items, r.held_out_direct, r.held_out_direct_ci95, r.trained_items, r.trained_direct,
         r.trained_direct_ci95, r.amplified, r.distilled_pairs)
        for r in metrics.distillation
    ] == [(it, n, c / n, ci[(c, n)], tn, tc / tn, ci[(tc, tn)], amp, pairs)
          for it, n, c, tn, tc, amp, pairs in per_iteration]  # fmt: skip
    by_difficulty = [
        # difficulty 1: f trained, b held out, both right every way; f's root is a pair
        (1, 1, 1.0, ci[(1, 1)], 1, 1.0, ci[(1, 1)], 1.0, 1),
        # difficulty 2: a trained (right directly), e and c held out (c right); no tree right; a's root
        (2, 2, 0.5, ci[(1, 2)], 1, 1.0, ci[(1, 1)], 0.0, 1),
        # difficulty 3: d trained, wrong both ways; d's root and its node; no held-out item
        (3, 0, None, None, 1, 0.0, ci[(0, 1)], 0.0, 2),
    ]
    assert [(r.iteration, r.difficulty) for r in metrics.distillation_by_difficulty] == [
        (it, d) for it in (1, 2) for d in (1, 2, 3)
    ]
    for row in metrics.distillation_by_difficulty:
        assert (row.difficulty, row.held_out_items, row.held_out_direct, row.held_out_direct_ci95, row.trained_items,
                row.trained_direct, row.trained_direct_ci95, row.amplified, row.distilled_pairs) == \
            by_difficulty[row.difficulty - 1]  # fmt: skip
    # the hand intervals are Wilson's, to three decimals
    for (correct, n), interval in ci.items():
        wilson = wilson_interval(correct, n)
        assert wilson is not None and [round(wilson.low, 3), round(wilson.high, 3)] == interval
    assert metrics.delegated_nodes == 2 * (2 + 1 + 1 + 2 + 1 + 1)  # every leaf, both iterations
    stored = metrics.model_dump(mode="json")
    assert IdaMetrics.model_validate(stored) == metrics


def test_the_distillation_figures_agree_with_counts_over_a_noisy_run(workdir: Path) -> None:
    records = _play(workdir, "noisy", {**OVERSEEN, "answerer": "scripted/noisy-oracle?p=0.3"},
                    task="nested-arithmetic", limit=16, options={"iterations": 2, "held_out": 0.4})
    metrics = ida_metrics(records, max_calls=100)
    for row in metrics.distillation_by_difficulty:
        mine = [r for r in records if r.phase + 1 == row.iteration and r.meta["difficulty"] == row.difficulty]
        direct = [r for r in mine if r.meta["mode"] == "direct"]
        held = [r for r in direct if r.meta["held_out"]]
        trained = [r for r in direct if not r.meta["held_out"]]
        amplified = [r for r in mine if r.meta["mode"] == "amplified"]
        assert row.held_out_items == len(held) and row.trained_items == len(trained)
        assert row.held_out_direct == (sum(bool(r.correct) for r in held) / len(held) if held else None)
        assert row.trained_direct == (sum(bool(r.correct) for r in trained) / len(trained) if trained else None)
        assert row.amplified == sum(bool(r.correct) for r in amplified) / len(amplified)
    for row in metrics.distillation:
        phase = [r for r in records if r.phase + 1 == row.iteration]
        assert row.distilled_pairs == len([p for p in distilled_pairs(phase) if not p["held_out"]])
        assert row.held_out_items + row.trained_items == 16
    assert sum(r.held_out_items for r in metrics.distillation) > 0


def test_older_summaries_without_the_new_figures_still_load() -> None:
    stored = ida_metrics([], max_calls=10).model_dump(mode="json")
    for name in ("distillation", "distillation_by_difficulty", "delegated_nodes"):
        del stored[name]
    figures = IdaMetrics.model_validate(stored)
    assert figures.distillation == [] and figures.delegated_nodes == 0


def test_a_plot_of_distillation_comes_with_two_iterations_or_more(workdir: Path) -> None:
    metrics = ida_metrics(_tiny_run(workdir), max_calls=100).model_dump(mode="json")
    (plot,) = [p for p in ida_plots(metrics) if p.key == "ida-distillation-by-iteration"]
    assert [s.label for s in plot.series] == ["direct, held-out items", "direct, trained items", "amplified, all items"]
    assert list(plot.series[0].x) == [1, 2] and list(plot.series[0].y) == [2 / 3, 2 / 3]
    one = {**metrics, "distillation": metrics["distillation"][:1]}
    assert "ida-distillation-by-iteration" not in {p.key for p in ida_plots(one)}


def test_show_prints_the_distillation_tables_and_marks_held_out_games(workdir: Path) -> None:
    records = _tiny_run(workdir)
    shown = oversight_in_process("show", "tiny", env={"COLUMNS": "250"})
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "ida · distillation: direct accuracy on held-out vs trained items by iteration" in out
    assert "ida · distillation by difficulty" in out
    for title in ("held-out items", "held-out direct", "held-out 95% CI", "trained direct", "distilled pairs"):
        assert title in out
    assert "nodes handed to the answerer" in out
    narrow = oversight_in_process("show", "tiny", env={"COLUMNS": "80"})  # too narrow: a block per row
    assert narrow.returncode == 0 and "held-out direct: 0.667" in narrow.stdout
    game = next(r for r in records if r.item_id == "e" and r.meta["mode"] == "amplified")
    one = oversight_in_process("show", "tiny", game.game_id[:12], env={"COLUMNS": "200"})
    assert one.returncode == 0, one.stderr
    assert "held out of distillation" in one.stdout and "delegated to the answerer" in one.stdout


# -- delegation and the overseer ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("DELEGATE", True), ("delegate", True), ("  **DELEGATE**\n", True), ("Delegate.", True),
    ("ANSWER: DELEGATE", False), ("SUB: delegate", False), ("I delegate", False), ("", False),
])  # fmt: skip
def test_a_delegation_is_the_word_alone(text: str, expected: bool) -> None:
    assert delegates(text) is expected


def test_a_delegated_node_costs_the_decomposers_call_and_the_answerers(workdir: Path) -> None:
    records = _tiny_run(workdir, answerer="scripted/oracle")
    for record in records:
        if record.meta["mode"] != "amplified":
            continue
        assert record.correct
        turns = [(t.role, t.meta["step"]) for t in record.turns]
        assert ("answerer", "answer") in turns and ("decomposer", "decompose-retry") not in turns
        for node in record.meta["tree"]:
            if node["mode"] == "delegated":
                assert node["calls"] == 2 and node["spent"] <= node["budget"] and node["reason"] is None
                assert [turns[i] for i in node["turns"]] == [("decomposer", "decompose"), ("answerer", "answer")]
            else:
                assert node["mode"] == "decomposed"  # the overseer answers nothing itself


def _prompt(text: str) -> list[ChatMessage]:
    return [ChatMessage(role="user", content=text)]


def test_the_overseer_splits_and_combines_but_never_answers() -> None:
    settings = GenerationSettings(max_tokens=50)
    composite, leaf = EXPR.format("(2 * 3) + (4 - 1)"), EXPR.format("2 * 3")
    decompose = "<question>\n{}\n</question>\nTo split the question, one line per sub-question: SUB: …"
    subs = overseer(_prompt(decompose.format(composite)), settings, 0, {}).text
    assert subs == f"SUB: {EXPR.format('2 * 3')}\nSUB: {EXPR.format('4 - 1')}"
    assert overseer(_prompt(decompose.format(leaf)), settings, 0, {}).text == DELEGATE
    assert overseer(_prompt(decompose.format("What colour is the sky?")), settings, 0, {}).text == DELEGATE
    answer = "<question>\n{}\n</question>\nReply with one line: ANSWER: followed by the answer."
    assert overseer(_prompt(answer.format(composite)), settings, 0, {}).text == UNKNOWN
    assert overseer(_prompt(answer.format(leaf)), settings, 0, {}).text == UNKNOWN

    def aggregate(*given: str) -> str:
        lines = "\n".join(f"Sub-question {i}: {q}\nSub-answer {i}: {a}"
                          for i, (q, a) in enumerate(zip([EXPR.format("2 * 3"), EXPR.format("4 - 1")], given), 1))
        prompt = f"<question>\n{composite}\n</question>\n<subanswers>\n{lines}\n</subanswers>"
        return overseer(_prompt(prompt), settings, 0, {}).text

    assert aggregate("6", "3") == "ANSWER: 9"
    assert aggregate("7", "3") == "ANSWER: 10"  # exact over what it is told, right or wrong
    # sub-answers are read as the game reads answers: a sentence gives its number, a hedge gives none
    assert aggregate(f"The value of {EXPR.format('2 * 3')[:-1].split('expression ')[1]} is 6.", "ANSWER: 3") == "ANSWER: 9"
    assert aggregate("6 or 7", "3") == UNKNOWN
    assert aggregate("six", "3") == UNKNOWN  # unreadable: it does not fall back on knowing the answer
    assert aggregate("6") == UNKNOWN  # not the decomposition it would make


@pytest.mark.parametrize("task", [t.name for t in FAMILIES])
def test_the_overseer_decomposes_and_aggregates_every_task_exactly(workdir: Path, task: str) -> None:
    records = _play(workdir, "oracle", {**OVERSEEN, "answerer": "scripted/oracle"}, task=task, limit=8)
    assert len(records) == 16 and all(r.correct for r in records)  # amplified and direct: 100%
    metrics = ida_metrics(records, max_calls=100)
    assert metrics.amplified_accuracy == 1.0 and metrics.delegated_nodes > 0
    assert metrics.forced_budget == metrics.forced_max_depth == metrics.forced_malformed == 0
    for record in records:
        if record.meta["mode"] == "amplified":  # every leaf's answer came from the answerer
            leaves = [n for n in record.meta["tree"] if n["mode"] not in ("decomposed", "memo")]
            assert leaves and all(n["mode"] == "delegated" and n["correct"] for n in leaves)
            assert {t.role for t in record.turns if t.meta["step"] == "answer"} == {"answerer"}
    # the overseer as the learner too: it knows no answer, so every game is wrong
    alone = _play(workdir, "alone", {**OVERSEEN, "answerer": "scripted/overseer"}, task=task, limit=8)
    assert len(alone) == 16 and not any(r.correct for r in alone)
    assert all(r.meta["answer"] == "unknown" for r in alone if r.meta["mode"] == "direct")
