"""Training data out of ``ida`` games (``oversight export --format sft``).

Without ``--role``, the rows are the run's **distilled pairs** — the question of the root and of every node that
decomposed, answered by the tree (:func:`~oversight.protocols.ida.metrics.distilled_pairs`) — written exactly as
``distilled-K.jsonl`` writes them (:func:`~oversight.protocols.ida.metrics.sft_row`: the answerer's prompt, then
``ANSWER: <answer>``), so an export trains on what the run's own distillation does. Pairs of items held out of
distillation are left out, as there. ``--keep correct`` keeps the pairs whose answer matched the exact one.

With ``--role decomposer|answerer|aggregator``, the rows are that role's calls, each with its node's question in the
engine's neutral layout (:func:`oversight.export.chat_prompt`) — and for the aggregator the sub-questions and
their answers it was shown — and the reply as the model wrote it; ``--keep correct`` keeps the calls of nodes whose
answer matched the exact one. In-context examples of later iterations are not part of the rebuilt prompt.

A tree has no winner or loser: ``--keep winner`` and ``loser`` are refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from oversight.protocols.ida.metrics import distilled_pairs, sft_row

from oversight.export import assistant, chat_prompt
from oversight.protocol import ExportUnsupported
from oversight.records import GameRecord

TREE_SYSTEM = "You are one agent in a tree of agents that answers hard questions by splitting them into easier ones."
#: the system message and what to do now, by the step of the tree a call was made for
STEPS = {
    "decompose": (
        f"{TREE_SYSTEM} Answer your question if you can in one step; otherwise split it into self-contained "
        "sub-questions that other agents will answer.",
        "Reply with one line, ANSWER: followed by the answer, or with one line per sub-question, SUB: followed by "
        "the sub-question.",
    ),
    "aggregate": (
        f"{TREE_SYSTEM} Your question was split into sub-questions, which other agents have answered.",
        "Reply with one line: ANSWER: followed by the answer to the question.",
    ),
    "answer": ("Answer the question.", "Reply with one line: ANSWER: followed by the answer."),
}
STEPS["decompose-retry"] = STEPS["decompose"]


def sft_rows(
    records: Iterable[GameRecord], protocol: str, *, role: str | None, keep: str
) -> Iterator[dict[str, Any]]:
    """The distilled pairs (no ``role``) or ``role``'s calls, kept by ``keep``; refuses at once a winner or loser."""
    if keep in ("winner", "loser"):
        raise ExportUnsupported(f"{protocol} has no {keep}: a tree's answers are kept by --keep correct or all")
    if role is None:
        return _distilled(records, protocol, keep)
    return (row for record in records for row in _calls(record, role, keep))


def _distilled(records: Iterable[GameRecord], protocol: str, keep: str) -> Iterator[dict[str, Any]]:
    for pair in distilled_pairs(records):
        if pair.get("held_out") or (keep == "correct" and pair.get("correct") is not True):
            continue
        yield {
            **sft_row(pair),
            "protocol": protocol,
            "game_id": pair["game_id"],
            "item_id": pair["item_id"],
            "role": None,
            "kind": "distilled",
            "node": pair["node"],
            "iteration": pair["iteration"],
            "correct": pair.get("correct"),
        }


def _calls(record: GameRecord, role: str, keep: str) -> Iterator[dict[str, Any]]:
    nodes = {node["id"]: node for node in record.meta.get("tree", [])}
    for turn in record.turns:
        node = nodes.get(turn.meta.get("node"))
        if turn.role != role or node is None:
            continue
        if keep == "correct" and node.get("correct") is not True:
            continue
        step = str(turn.meta.get("step", "answer"))
        system, instruction = STEPS.get(step, STEPS["answer"])
        sections = []
        if step == "aggregate":
            children = [nodes[c] for c in node.get("children", []) if c in nodes]
            answered = "\n".join(
                f"Sub-question {i}: {child['question']}\nSub-answer {i}: {child.get('answer')}"
                for i, child in enumerate(children, 1)
            )
            sections.append(("Sub-answers", answered))
        yield {
            "messages": [
                *chat_prompt(system, node["question"], sections=sections, instruction=instruction),
                assistant(turn.content),
            ],
            "protocol": record.protocol,
            "game_id": record.game_id,
            "item_id": record.item_id,
            "role": turn.role,
            "kind": step,
            "node": node["id"],
            "iteration": record.phase + 1,
            "correct": node.get("correct"),
        }
