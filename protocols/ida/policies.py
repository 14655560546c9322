"""Amplification agents that know the built-in decomposable tasks: an exact oracle, a noisy one, and an overseer.

They read the prompts the ``ida`` templates write: the question in ``<question>``, sub-questions and their
answers in ``<subanswers>`` (the aggregator's prompt), and the ``SUB:`` reply format (the decomposer's prompt).
Anything else is a request to answer directly. Which task a question belongs to is read from its text.

``scripted/oracle`` decomposes exactly, answers leaves exactly and aggregates exactly: 100% at any depth.
``scripted/noisy-oracle?p=0.2`` does the same, except that a leaf's answer is wrong with probability ``p``
(fixed by the question text and ``?seed=``, so the same leaf is wrong the same way in every tree). Aggregation
stays exact over whatever the children said, so the wrong leaves travel up the tree. Asked to answer a
composite question directly (the baseline, or a node forced to answer), it is as error-prone as doing all the
question's distinct leaf steps in its head: wrong with probability ``1-(1-p)^leaves``, or ``?direct_p=``.

``scripted/overseer`` knows how every built-in task splits and combines, and nothing else: it decomposes and
aggregates exactly but answers no question itself — the overseer of an IDA run, whose trees hold only the
learner's knowledge (see :func:`overseer`).
"""

from __future__ import annotations

import re
from typing import Any

from oversight.protocols.ida.protocol import DELEGATE

from oversight.models.base import ChatMessage, Completion, GenerationSettings
from oversight.policies.text import plain, prompt_text, section, unit_hash
from oversight.tasks.decomposable import DecomposableTask, canonical_question, recognise, tree_shape
from oversight.tasks.decomposable.base import extract_answer

_SUB_QUESTION = re.compile(r"^Sub-question (\d+): (.*)$", re.MULTILINE)
_SUB_ANSWER = re.compile(r"^Sub-answer (\d+): (.*)$", re.MULTILINE)


def _subanswers(block: str) -> tuple[list[str], list[str]]:
    questions = dict(_SUB_QUESTION.findall(block))
    answers = dict(_SUB_ANSWER.findall(block))
    order = sorted(questions, key=int)
    return [questions[i].strip() for i in order], [answers.get(i, "").strip() for i in order]


class _Noise:
    def __init__(self, params: dict[str, str]) -> None:
        self.p = float(params.get("p", "0.2"))
        self.direct_p = float(params["direct_p"]) if "direct_p" in params else None
        self.seed = params.get("seed", "0")
        if not (0.0 <= self.p <= 1.0) or not (self.direct_p is None or 0.0 <= self.direct_p <= 1.0):
            raise ValueError("noisy-oracle: p and direct_p must be between 0 and 1")

    def answer(self, task: DecomposableTask[Any], question: str) -> str:
        key = canonical_question(question)
        if task.decompose(question) is None:
            wrong = unit_hash(key, self.seed, "leaf") < self.p
        else:
            leaves = tree_shape(task, question)["leaves"]
            q = self.direct_p if self.direct_p is not None else 1.0 - (1.0 - self.p) ** leaves
            wrong = unit_hash(key, self.seed, "direct") < q
        if wrong:
            return task.wrong_answer(question, unit_hash(key, self.seed, "which"))
        return task.answer(question)


def _reply(messages: list[ChatMessage], noise: _Noise | None) -> Completion:
    prompt = prompt_text(messages)
    question = " ".join((section(prompt, "question") or "").split())
    task = recognise(question)
    if task is None:
        return plain("ANSWER: unknown", prompt)

    def answer() -> str:
        return noise.answer(task, question) if noise else task.answer(question)

    block = section(prompt, "subanswers")
    if block is not None:
        asked, given = _subanswers(block)
        expected = task.decompose(question) or []
        if [canonical_question(q) for q in asked] == [canonical_question(q) for q in expected]:
            try:
                return plain(f"ANSWER: {task.aggregate(question, given)}", prompt)
            except ValueError:
                pass  # an unreadable sub-answer: fall back on answering the question itself
        return plain(f"ANSWER: {answer()}", prompt)
    if "SUB:" in prompt:
        subs = task.decompose(question)
        if subs is not None:
            return plain("\n".join(f"SUB: {sub}" for sub in subs), prompt)
    return plain(f"ANSWER: {answer()}", prompt)


def oracle(
    messages: list[ChatMessage], settings: GenerationSettings, sample: int, params: dict[str, str]
) -> Completion:
    """Decomposes exactly, answers leaves exactly, aggregates exactly."""
    return _reply(messages, None)


def noisy_oracle(
    messages: list[ChatMessage], settings: GenerationSettings, sample: int, params: dict[str, str]
) -> Completion:
    """The oracle with leaves answered wrong with probability ``?p=`` (default 0.2)."""
    return _reply(messages, _Noise(params))


#: what the overseer says when asked for an answer it would have to know rather than work out
UNKNOWN = "ANSWER: unknown"


def overseer(
    messages: list[ChatMessage], settings: GenerationSettings, sample: int, params: dict[str, str]
) -> Completion:
    """Decomposes and aggregates every built-in task exactly, and answers nothing itself.

    - as the decomposer: the exact sub-questions of a composite question; for a primitive one (a leaf: the task's
      ``decompose`` gives None) or a question of no built-in task, ``DELEGATE``, which hands the question to the
      answerer — it does not answer leaves, so that every fact in a tree (each leaf's answer) comes from the
      learner bound to ``answerer``, and the distilled pairs teach the learner nothing it did not supply;
    - as the aggregator: the exact combination of the sub-answers it is shown (right or wrong), each read as the
      game reads a final answer ("The value of 5 * 8 is 40." gives 40; the exact sub-answer only says what form to
      read — a number, a list of six — never its value), when they are the exact decomposition's and readable;
      otherwise ``ANSWER: unknown`` (it never falls back on answering);
    - asked to answer any question directly (the answerer's prompt): ``ANSWER: unknown``.
    """
    prompt = prompt_text(messages)
    question = " ".join((section(prompt, "question") or "").split())
    task = recognise(question)
    block = section(prompt, "subanswers")
    if block is not None:
        if task is None:
            return plain(UNKNOWN, prompt)
        asked, given = _subanswers(block)
        expected = task.decompose(question) or []
        if expected and [canonical_question(q) for q in asked] == [canonical_question(q) for q in expected]:
            read = [extract_answer(answer, task.answer(q)) for q, answer in zip(expected, given, strict=True)]
            if all(r is not None for r in read):
                try:
                    return plain(f"ANSWER: {task.aggregate(question, [str(r) for r in read])}", prompt)
                except ValueError:
                    pass  # a sub-answer of the right form that the task still cannot combine
        return plain(UNKNOWN, prompt)
    if "SUB:" in prompt:
        subs = task.decompose(question) if task is not None else None
        return plain("\n".join(f"SUB: {sub}" for sub in subs) if subs else DELEGATE, prompt)
    return plain(UNKNOWN, prompt)
