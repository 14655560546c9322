"""Decomposable tasks: exact decompositions agree with direct answers; texts round-trip; generation is seeded."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oversight.protocols.ida.protocol import IdaOptions

from oversight.tasks import TASKS, load_task
from oversight.tasks.decomposable import (
    DIFFICULTIES,
    FAMILIES,
    DecomposableTask,
    answer_by_decomposition,
    normalise_answer,
    recognise,
    tree_shape,
)

NAMES = [task.name for task in FAMILIES]
Case = tuple[DecomposableTask[Any], int, int]
problems = st.tuples(st.sampled_from(FAMILIES), st.integers(0, 2**32 - 1), st.sampled_from(DIFFICULTIES))


def _questions(task: DecomposableTask[Any], question: str) -> list[str]:
    """The question and every question below it in the exact decomposition."""
    found, stack = [], [question]
    while stack:
        q = stack.pop()
        found.append(q)
        stack.extend(task.decompose(q) or [])
    return found


@settings(max_examples=300, deadline=None)
@given(problems)
def test_answering_through_the_exact_decomposition_equals_answering_directly(case: Case) -> None:
    task, seed, difficulty = case
    question = task.render(task.generate(random.Random(seed), difficulty))
    assert answer_by_decomposition(task, question) == task.answer(question)


@settings(max_examples=150, deadline=None)
@given(problems)
def test_every_question_in_a_tree_parses_back_to_itself_and_only_for_its_task(case: Case) -> None:
    task, seed, difficulty = case
    problem = task.generate(random.Random(seed), difficulty)
    assert task.parse(task.render(problem)) == problem
    for question in _questions(task, task.render(problem)):
        assert "\n" not in question
        parsed = task.parse(question)
        assert parsed is not None and task.render(parsed) == question
        assert recognise(question) is task  # no other task claims it: the oracle can tell tasks apart
        for sub in task.decompose(question) or []:  # strictly smaller: a sub-question never repeats its parent
            assert sub != question


@settings(max_examples=150, deadline=None)
@given(problems, st.floats(0, 1, exclude_max=True))
def test_a_corrupted_answer_is_wrong_but_still_readable_by_the_aggregate(case: Case, u: float) -> None:
    task, seed, difficulty = case
    question = task.render(task.generate(random.Random(seed), difficulty))
    for q in _questions(task, question):
        wrong = task.wrong_answer(q, u)
        assert normalise_answer(wrong) != normalise_answer(task.answer(q))
        parent_subs = task.decompose(question) or []
        if q in parent_subs:  # the parent can still aggregate over a wrong child
            answers = [wrong if s == q else task.answer(s) for s in parent_subs]
            task.aggregate(question, answers)


@pytest.mark.parametrize("name", NAMES)
def test_task_sets_are_registered_seeded_and_interleave_difficulties(name: str) -> None:
    tasks = load_task(name, seed=3)
    assert name in TASKS.names()
    assert [i.question for i in tasks.items] == [i.question for i in load_task(name, seed=3).items]
    assert [i.question for i in tasks.items] != [i.question for i in load_task(name, seed=4).items]
    assert [i.meta["difficulty"] for i in tasks.items[:8]] == [1, 2, 3, 4, 1, 2, 3, 4]
    assert len({i.id for i in tasks.items}) == len(tasks.items) == 40
    for item in tasks.items:
        assert item.choices == [] and isinstance(item.answer, str) and item.meta["task"] == name
        assert normalise_answer(item.answer)


@pytest.mark.parametrize("name", NAMES)
def test_harder_items_have_deeper_trees_that_fit_the_default_depth(name: str) -> None:
    items = load_task(name).items
    heights = {d: [i.meta["height"] for i in items if i.meta["difficulty"] == d] for d in DIFFICULTIES}
    means = [sum(h) / len(h) for h in heights.values()]
    assert means == sorted(means) and means[-1] > means[0]
    assert max(max(h) for h in heights.values()) < IdaOptions().max_depth
    for item in items:
        task = recognise(item.question)
        assert task is not None and tree_shape(task, item.question)["height"] == item.meta["height"]


def test_nested_arithmetic_depth_is_the_difficulty() -> None:
    for item in load_task("nested-arithmetic").items:
        assert item.meta["height"] == item.meta["difficulty"] - 1  # depth 1 is one operator: a leaf


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("ANSWER: Yes.", "yes"), ("[3, 1, 0]", "3 1 0"), (" 12.0 ", "12"), ("**Bo**", "bo"), ("-7", "-7"), ("+4", "4")],
)
def test_answers_are_compared_in_normal_form(raw: str, normal: str) -> None:
    assert normalise_answer(raw) == normal
