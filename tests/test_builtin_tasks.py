"""The built-in multiple-choice tasks admit no shortcut, and the scripted agents play them from evidence alone.

``mini-stories`` and ``word-problems`` come in twins that differ in one fact sentence, so anything that does not
read that fact gets exactly one of each pair; the scripted judge breaks ties by the prompt, never toward A.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path

import pytest
from oversight.protocols.debate.policies import chains, evidence, judge, transcript_scores

from oversight.models.base import ChatMessage, GenerationSettings
from oversight.policies.text import sentences
from oversight.runner import RunConfig, execute
from oversight.tasks import TaskItem, load_task

TASKS = ("mini-stories", "word-problems")
PREFIX = {"mini-stories": "story", "word-problems": "wp"}


def twins(name: str, seed: int = 0) -> list[tuple[TaskItem, TaskItem]]:
    items = load_task(name, seed).items
    return list(zip(items[::2], items[1::2], strict=True))


def fact(first: TaskItem, second: TaskItem) -> tuple[str, str]:
    """The two versions of the one sentence in which the twins' passages differ, at the same position."""
    a, b = sentences(first.passage or ""), sentences(second.passage or "")
    assert len(a) == len(b)
    [where] = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    return a[where], b[where]


def labelled(item: TaskItem) -> dict[str, str]:
    return dict(zip("AB", item.choices, strict=True))


@pytest.mark.parametrize("name", TASKS)
def test_twins_share_everything_but_one_fact_and_the_answer(name: str) -> None:
    pairs = twins(name)
    assert len(pairs) * 2 >= 200
    for index, (first, second) in enumerate(pairs):
        assert (first.id, second.id) == (f"{PREFIX[name]}-{2 * index:04d}", f"{PREFIX[name]}-{2 * index + 1:04d}")
        assert first.question == second.question and first.choices == second.choices
        assert {first.answer, second.answer} == {0, 1}
        assert {first.meta["branch"], second.meta["branch"]} == {0, 1}
        shared = [{k: v for k, v in item.meta.items() if k != "branch"} for item in (first, second)]
        assert shared[0] == shared[1] and first.meta["pair"] == index
        one, other = fact(first, second)
        assert len(one.split()) >= 4 and len(other.split()) >= 4
        # the fact names no answer: only the plans do
        assert not any(c.lower().removeprefix("the ") in one.lower() for c in first.choices)


@pytest.mark.parametrize("name", TASKS)
def test_the_answer_position_is_balanced_overall_and_for_each_branch(name: str) -> None:
    items = load_task(name).items
    assert Counter(item.answer for item in items) == {0: len(items) // 2, 1: len(items) // 2}
    # which branch of a condition leads to choice A is balanced within every family, so the fact's wording alone
    # says nothing about the position
    cells = Counter((item.meta["family"], item.meta["branch"], item.answer) for item in items)
    families = {item.meta["family"] for item in items}
    assert len(families) >= 5 and len(cells) == 4 * len(families) and len(set(cells.values())) == 1


def test_word_problem_questions_lack_the_number_the_passage_holds() -> None:
    for item in load_task("word-problems").items:
        asked = set(re.findall(r"\d+", item.question))
        right = item.choices[item.answer]
        [plan] = [s for s in sentences(item.passage or "") if re.search(rf"\b{right}\b", s)]
        needed = set(re.findall(r"\d+", plan)) - asked - {right}
        assert needed, plan  # the amount of the hidden step appears only in the passage
        assert "some" in item.question and 2 <= item.meta["steps"] <= 4


@pytest.mark.parametrize("name", TASKS)
def test_generation_is_deterministic_by_seed(name: str) -> None:
    assert load_task(name, seed=5).items == load_task(name, seed=5).items
    assert load_task(name, seed=6).items != load_task(name, seed=5).items


@pytest.mark.parametrize("name", TASKS)
def test_the_passage_settles_every_item_and_a_lone_plan_does_not(name: str) -> None:
    for item in load_task(name).items:
        choices = labelled(item)
        right, wrong = "AB"[item.answer], "AB"[1 - item.answer]
        found = chains(item.passage or "", choices)
        assert len(found[right]) == 2 and len(found[wrong]) == 1
        # the honest debater quotes the plan and the fact that settles it; the other finds only its plan
        assert evidence(item.passage or "", choices, right) == found[right]
        assert evidence(item.passage or "", choices, wrong) == found[wrong]


def _verdict(prompt: str) -> tuple[str, str]:
    reply = judge([ChatMessage(role="user", content=prompt)], GenerationSettings(), 0, {}).text
    answer, confidence = reply.splitlines()
    return answer.removeprefix("Answer: "), confidence


def test_with_nothing_to_go_on_the_judge_draws_by_content_not_toward_a() -> None:
    picks: Counter[str] = Counter()
    for item in load_task("mini-stories").items[::2][:40]:
        choices = "\n".join(f"{label}. {text}" for label, text in labelled(item).items())
        label, confidence = _verdict(f"Question: {item.question}\n<choices>\n{choices}\n</choices>\n")
        assert confidence == "Confidence: 50%"
        picks[label] += 1
    assert picks["A"] and picks["B"]


def test_a_verified_fact_counts_for_the_branch_it_settles_whoever_quoted_it() -> None:
    choices = {"A": "The greenhouse", "B": "The boathouse"}
    transcript = (
        "Debater A (round 1, arguing for A): <quote verified>Mara said that if it rained, the violin would go to "
        "the greenhouse.</quote>\n"
        "Debater B (round 1, arguing for B): <quote verified>Mara said that if it stayed dry, the violin would go "
        "to the boathouse.</quote> and <quote verified>It rained that afternoon.</quote>\n"
    )
    assert transcript_scores(transcript, choices) == {"A": 2, "B": 1}
    invented = "Consultant (round 1, arguing for B): <quote unverified>The violin was in the boathouse.</quote>\n"
    assert transcript_scores(invented, choices) == {"A": 0.5, "B": -2}


def test_blind_games_on_mini_stories_do_not_all_pick_a(workdir: Path) -> None:
    config = RunConfig(protocol="blind", out=workdir / "blind", task="mini-stories", limit=40)
    result = asyncio.run(execute(config, ["test"]))
    verdicts = [record.verdict for record in result.folder.records()]
    assert {v.choice for v in verdicts if v} == {0, 1}
    assert all(v and v.probabilities == [0.5, 0.5] for v in verdicts)
