"""What an ``ida`` run adds to its summary and its folder: the amplified-vs-direct table and the distilled data.

``metrics`` gives accuracy of the amplified tree and of the direct answer by iteration and difficulty (95% Wilson
intervals, as ``[low, high]``), calls and tokens per amplified item (a direct answer is one call), accuracy of
tree nodes by depth (where exact answers are known: how errors travel up), counts of memo hits, forced and
delegated answers and unreadable replies, and what distillation did: the learner's direct accuracy on held-out
items against items it was trained on, iteration by iteration, beside the amplified accuracy it is taught from
and the pairs it was taught.

Distillation: every complete amplified tree gives (question, answer) pairs — its root and every node that
decomposed, once per question (held-out items' trees and the others' apart). ``distilled-K.jsonl`` holds iteration
K's pairs of items not held out as SFT chat rows (``{"messages": [...]}``, the answerer's prompt as the built-in
template writes it, then ``ANSWER: <answer>``): the rows ``distill=lora`` / ``export`` train on.
``distilled-pairs.jsonl`` holds every pair with where it came from, whether it was right and whether its item is
held out. :class:`ExampleIndex` picks the most similar pairs (TF-IDF cosine) as the next iteration's in-context
examples.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field

from oversight.metrics import ProtocolMetrics
from oversight.prompts import PromptLibrary
from oversight.records import GameRecord
from oversight.scoring import wilson_interval
from oversight.tasks.decomposable import canonical_question

#: the template whose prompt the SFT rows put before the answer: the learner's, as it is asked in the games
SFT_TEMPLATE = "ida/answerer.j2"
_TOKEN = re.compile(r"[a-z]+|\d+|[^\sa-z\d]")


def mode_of(record: GameRecord) -> str:
    """``amplified`` or ``direct``: the record's ``meta["mode"]``, else read from its sample (1 is direct)."""
    return str(record.meta.get("mode") or ("direct" if record.sample == 1 else "amplified"))


def held_out_of(record: GameRecord) -> bool:
    """Whether the record's item is held out of distillation (``meta["held_out"]``; no: a record from before)."""
    return bool(record.meta.get("held_out"))


# -- distillation ----------------------------------------------------------------------------------------------
def _pair_nodes(record: GameRecord, seen: set[tuple[int, bool, str]]) -> Iterable[dict[str, Any]]:
    """The tree nodes of a record that give distilled pairs not given yet (``seen`` is updated): the root and the
    nodes that decomposed, with an answer, of a complete amplified tree. Held-out items' questions and the others'
    are counted apart, so the pairs of the items not held out are the same whether or not the others are read."""
    if record.status != "complete" or mode_of(record) != "amplified":
        return
    held_out = held_out_of(record)
    for node in record.meta.get("tree", []):
        is_root = node.get("parent") is None
        if node.get("answer") is None or not (is_root or node.get("mode") == "decomposed"):
            continue
        key = (record.phase, held_out, canonical_question(node["question"]))
        if key in seen:
            continue
        seen.add(key)
        yield node


def distilled_pairs(records: Iterable[GameRecord]) -> list[dict[str, Any]]:
    """(question, amplified answer) pairs of the complete amplified trees, in record order, once per question (per
    iteration, held-out items and the others apart), each saying whether its item is held out."""
    pairs: list[dict[str, Any]] = []
    seen: set[tuple[int, bool, str]] = set()
    for record in records:
        for node in _pair_nodes(record, seen):
            is_root = node.get("parent") is None
            pairs.append({
                "iteration": record.phase + 1,
                "item_id": record.item_id,
                "game_id": record.game_id,
                "node": node["id"],
                "source": "root" if is_root else "node",
                "difficulty": record.meta.get("difficulty"),
                "question": node["question"],
                "answer": node["answer"],
                "exact": node.get("exact"),
                "correct": node.get("correct"),
                "held_out": held_out_of(record),
            })
    return pairs


@lru_cache(maxsize=1)
def _builtin_prompts() -> PromptLibrary:
    return PromptLibrary()


def answerer_prompt(question: str) -> list[dict[str, str]]:
    """The messages the answerer is asked ``question`` with in a game, without in-context examples, from the
    built-in template (a run's own ``--prompts`` folder is not known here)."""
    messages = _builtin_prompts().render(SFT_TEMPLATE, {"question": question, "examples": [], "retry": False})
    return [{"role": m.role, "content": m.content} for m in messages]


def sft_row(pair: dict[str, Any]) -> dict[str, Any]:
    """A distilled pair as an SFT chat row: the answerer's prompt for the question, then ``ANSWER: <answer>`` as the
    assistant's reply, so the learner is trained on the prompt it is asked with."""
    return {
        "messages": [
            *answerer_prompt(pair["question"]),
            {"role": "assistant", "content": f"ANSWER: {pair['answer']}"},
        ]
    }


def sft_files(records: Iterable[GameRecord]) -> dict[str, list[dict[str, Any]]]:
    """File name → rows of the distilled data: ``distilled-pairs.jsonl`` with every pair and ``distilled-K.jsonl``
    with iteration K's pairs of items not held out as SFT rows; empty when no tree gave a pair."""
    pairs = distilled_pairs(records)
    if not pairs:
        return {}
    files: dict[str, list[dict[str, Any]]] = {"distilled-pairs.jsonl": pairs}
    for iteration in sorted({p["iteration"] for p in pairs}):
        rows = [sft_row(p) for p in pairs if p["iteration"] == iteration and not p["held_out"]]
        if rows:
            files[f"distilled-{iteration}.jsonl"] = rows
    return files


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class ExampleIndex:
    """TF-IDF cosine over the distilled questions; a question asked again keeps its latest iteration's answer."""

    def __init__(self, pairs: Sequence[dict[str, Any]]) -> None:
        latest: dict[str, dict[str, Any]] = {}
        for pair in pairs:
            key = canonical_question(pair["question"])
            if key not in latest or pair["iteration"] >= latest[key]["iteration"]:
                latest[key] = pair
        self.pairs = list(latest.values())
        counts = [Counter(_tokens(p["question"])) for p in self.pairs]
        df = Counter(token for c in counts for token in c)
        n = len(self.pairs)
        self._idf = {token: math.log((1 + n) / (1 + d)) + 1.0 for token, d in df.items()}
        self._vectors = [self._vector(c) for c in counts]

    def _vector(self, counts: Counter[str]) -> dict[str, float]:
        weights = {t: c * self._idf.get(t, 0.0) for t, c in counts.items() if t in self._idf}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        return {t: w / norm for t, w in weights.items()}

    def nearest(self, question: str, k: int, exclude_item: str | None = None) -> list[dict[str, Any]]:
        """The ``k`` pairs whose questions are most like ``question`` (ties by question text), each with its
        similarity to four decimals; pairs from ``exclude_item`` are left out."""
        query = self._vector(Counter(_tokens(question)))
        scored = []
        for pair, vector in zip(self.pairs, self._vectors, strict=True):
            if pair["item_id"] == exclude_item:
                continue
            score = sum(w * vector.get(t, 0.0) for t, w in query.items())
            scored.append((-score, pair["question"], pair))
        scored.sort(key=lambda s: (s[0], s[1]))
        return [
            {k_: pair[k_] for k_ in ("question", "answer", "item_id", "game_id", "node", "iteration")}
            | {"similarity": round(-score, 4)}
            for score, _, pair in scored[:k]
        ]


# -- metrics ---------------------------------------------------------------------------------------------------
#: a value of an item's ``difficulty`` (none when the task does not grade its items)
Difficulty = int | float | str | None


class Comparison(BaseModel):
    """Amplified tree against direct answer over one group of items."""

    #: items in the group (amplified or direct, whichever has more games)
    items: int
    #: share of the amplified games that were correct
    amplified: float | None = Field(title="amplified accuracy")
    #: its 95% Wilson interval, as [low, high] to three decimals
    amplified_ci95: list[float] | None = Field(title="amplified 95% CI")
    #: share of the direct games that were correct
    direct: float | None = Field(title="direct accuracy")
    #: its 95% Wilson interval, as [low, high] to three decimals
    direct_ci95: list[float] | None = Field(title="direct 95% CI")
    #: model calls per amplified item (a direct answer is one call)
    calls_per_item: float | None
    #: prompt and completion tokens per amplified item, rounded
    tokens_per_item: int | None


class _IterationKey(BaseModel):
    #: the amplify → distill iteration (1 for the first)
    iteration: int


class _DifficultyKey(_IterationKey):
    #: the items' difficulty
    difficulty: Difficulty


class IterationRow(Comparison, _IterationKey):
    """Amplified against direct over one iteration's items."""


class DifficultyRow(Comparison, _DifficultyKey):
    """Amplified against direct over one iteration's items of one difficulty."""


class Distilled(BaseModel):
    """What distillation did over one group of items: the learner's direct accuracy on the items held out of
    distillation against the items it is trained on, the amplified accuracy it is taught from, and how many pairs
    it was taught. In iteration 1 nothing has been distilled yet: its two direct figures are the baseline."""

    #: direct games of held-out items (one per item): the n of the held-out accuracy
    held_out_items: int = Field(title="held-out items")
    #: share of those the learner (the answerer, answering directly) got right
    held_out_direct: float | None = Field(title="held-out direct")
    #: its 95% Wilson interval, as [low, high] to three decimals
    held_out_direct_ci95: list[float] | None = Field(title="held-out 95% CI")
    #: direct games of items not held out, whose trees are distilled
    trained_items: int = Field(title="trained items")
    #: share of those the learner got right
    trained_direct: float | None = Field(title="trained direct")
    #: its 95% Wilson interval, as [low, high] to three decimals
    trained_direct_ci95: list[float] | None = Field(title="trained 95% CI")
    #: share of the amplified games (every item, held out or not) that were correct
    amplified: float | None = Field(title="amplified accuracy")
    #: (question, answer) pairs the group's amplified trees of items not held out gave (``distilled-K.jsonl``): what
    #: is distilled into the next iteration, unless ``distill=none`` or it is the last
    distilled_pairs: int = Field(title="distilled pairs")


class DistillationRow(Distilled, _IterationKey):
    """What distillation did over one iteration's items."""


class DistillationDifficultyRow(Distilled, _DifficultyKey):
    """What distillation did over one iteration's items of one difficulty."""


class DepthRow(BaseModel):
    """How right the tree nodes at one depth were, where the exact answer is known."""

    #: the depth (the root is 0)
    depth: int
    #: nodes at that depth whose correctness is known (memo hits left out: they repeat another node)
    nodes: int
    #: share of those nodes that were correct
    accuracy: float


class IdaMetrics(ProtocolMetrics):
    """The ``ida`` protocol's figures in ``summary.json``."""

    #: amplified accuracy in the last iteration
    amplified_accuracy: float | None = Field(title="amplified accuracy (last iteration)")
    #: direct accuracy in the last iteration
    direct_accuracy: float | None = Field(title="direct accuracy (last iteration)")
    #: iterations with complete games
    iterations: int
    #: tree nodes of the complete amplified games
    nodes: int = Field(title="tree nodes")
    #: of those, nodes that decomposed their question
    decomposed_nodes: int = Field(title="nodes that decomposed")
    #: nodes answered from an earlier node of the same tree
    memo_hits_tree: int = Field(title="memo hits within a tree")
    #: nodes answered from another tree of the run
    memo_hits_run: int = Field(title="memo hits from other trees")
    #: nodes forced to answer directly at the depth limit
    forced_max_depth: int = Field(title="forced answers at the depth limit")
    #: nodes forced to answer directly when their budget ran out
    forced_budget: int = Field(title="forced answers, budget spent")
    #: nodes forced to answer directly after unreadable decompositions
    forced_malformed: int = Field(title="forced answers after unreadable replies")
    #: nodes whose decomposer handed the question to the answerer (``DELEGATE``, as ``scripted/overseer`` does)
    delegated_nodes: int = Field(default=0, title="nodes handed to the answerer")
    #: unreadable replies over all nodes
    malformed_replies: int = Field(title="unreadable replies")
    #: most calls any one amplified tree made
    largest_tree_calls: int = Field(title="most calls of one tree")
    #: the calls one tree may make (the ``max_calls`` setting)
    max_calls: int = Field(title="calls a tree may make (max_calls)")
    #: a row per iteration and difficulty
    amplified_vs_direct: list[DifficultyRow] = Field(title="amplified vs direct by difficulty")
    #: a row per iteration
    per_iteration: list[IterationRow] = Field(title="amplified vs direct by iteration")
    #: a row per iteration: the learner's direct accuracy on held-out vs trained items, and what it was taught
    distillation: list[DistillationRow] = Field(
        default_factory=list, title="distillation: direct accuracy on held-out vs trained items by iteration"
    )
    #: the same, a row per iteration and difficulty
    distillation_by_difficulty: list[DistillationDifficultyRow] = Field(
        default_factory=list, title="distillation by difficulty"
    )
    #: a row per depth with nodes of known correctness
    node_accuracy_by_depth: list[DepthRow]


def _accuracy(n: int, correct: int) -> tuple[float | None, list[float] | None]:
    """Share correct and its 95% Wilson interval as [low, high] to three decimals; None for no games."""
    ci = wilson_interval(correct, n)
    return (correct / n if n else None), ([round(ci.low, 3), round(ci.high, 3)] if ci else None)


def _tokens_of(record: GameRecord) -> int:
    return sum(c.usage.prompt_tokens + c.usage.completion_tokens for c in record.calls)


@dataclass
class _Cell:
    """Counts of one row of the amplified-vs-direct table."""

    amplified: int = 0
    amplified_correct: int = 0
    direct: int = 0
    direct_correct: int = 0
    #: calls and tokens of the amplified games
    calls: int = 0
    tokens: int = 0

    def add(self, record: GameRecord) -> None:
        if mode_of(record) == "amplified":
            self.amplified += 1
            self.amplified_correct += bool(record.correct)
            self.calls += len(record.calls)
            self.tokens += _tokens_of(record)
        else:
            self.direct += 1
            self.direct_correct += bool(record.correct)

    def comparison(self) -> Comparison:
        """The row's figures."""
        n = self.amplified
        amplified, amplified_ci95 = _accuracy(n, self.amplified_correct)
        direct, direct_ci95 = _accuracy(self.direct, self.direct_correct)
        return Comparison(
            items=max(n, self.direct),
            amplified=amplified,
            amplified_ci95=amplified_ci95,
            direct=direct,
            direct_ci95=direct_ci95,
            calls_per_item=self.calls / n if n else None,
            tokens_per_item=round(self.tokens / n) if n else None,
        )


@dataclass
class _DistilledCell:
    """Counts of one row of the distillation table."""

    held_out: int = 0
    held_out_correct: int = 0
    trained: int = 0
    trained_correct: int = 0
    amplified: int = 0
    amplified_correct: int = 0
    pairs: int = 0

    def add(self, record: GameRecord, pairs: int) -> None:
        correct = bool(record.correct)
        if mode_of(record) == "amplified":
            self.amplified += 1
            self.amplified_correct += correct
            self.pairs += pairs
        elif held_out_of(record):
            self.held_out += 1
            self.held_out_correct += correct
        else:
            self.trained += 1
            self.trained_correct += correct

    def distilled(self) -> Distilled:
        """The row's figures."""
        held_out, held_out_ci95 = _accuracy(self.held_out, self.held_out_correct)
        trained, trained_ci95 = _accuracy(self.trained, self.trained_correct)
        return Distilled(
            held_out_items=self.held_out,
            held_out_direct=held_out,
            held_out_direct_ci95=held_out_ci95,
            trained_items=self.trained,
            trained_direct=trained,
            trained_direct_ci95=trained_ci95,
            amplified=_accuracy(self.amplified, self.amplified_correct)[0],
            distilled_pairs=self.pairs,
        )


def _sort_key(value: Any) -> tuple[int, Any]:
    return (1, "") if value is None else (0, value)


@dataclass
class _Nodes:
    """Counts over the nodes of the complete amplified trees; no node is kept."""

    nodes: int = 0
    malformed: int = 0
    largest: int = 0
    modes: Counter[Any] = field(default_factory=Counter)
    #: why forced nodes were forced
    reasons: Counter[Any] = field(default_factory=Counter)
    #: memo hits by scope ("tree", "run")
    memo: Counter[Any] = field(default_factory=Counter)
    #: depth → [nodes whose correctness is known, correct ones] (memo hits left out: they repeat another node)
    by_depth: dict[int, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    def add_tree(self, record: GameRecord) -> None:
        self.largest = max(self.largest, len(record.calls))
        for node in record.meta.get("tree", []):
            self.add_node(node)

    def add_node(self, node: dict[str, Any]) -> None:
        self.nodes += 1
        self.modes[node.get("mode")] += 1
        self.malformed += node.get("malformed", 0)
        if node.get("mode") == "forced":
            self.reasons[node.get("reason")] += 1
        if node.get("memo"):
            self.memo[node.get("memo")] += 1
        if node.get("correct") is not None and node.get("mode") != "memo":
            known = self.by_depth[node["depth"]]
            known[0] += 1
            known[1] += bool(node["correct"])

    def depth_rows(self) -> list[DepthRow]:
        return [DepthRow(depth=d, nodes=n, accuracy=correct / n) for d, (n, correct) in sorted(self.by_depth.items())]


@dataclass
class _IdaCounts:
    """Everything :func:`ida_metrics` counts in its one pass."""

    by_iteration: dict[int, _Cell] = field(default_factory=lambda: defaultdict(_Cell))
    by_difficulty: dict[tuple[int, Difficulty], _Cell] = field(default_factory=lambda: defaultdict(_Cell))
    nodes: _Nodes = field(default_factory=_Nodes)
    distilled: dict[int, _DistilledCell] = field(default_factory=lambda: defaultdict(_DistilledCell))
    distilled_by_difficulty: dict[tuple[int, Difficulty], _DistilledCell] = field(
        default_factory=lambda: defaultdict(_DistilledCell)
    )
    #: the distilled questions counted so far (as :func:`distilled_pairs` keeps them apart)
    seen: set[tuple[int, bool, str]] = field(default_factory=set)

    def add(self, record: GameRecord) -> None:
        if record.status != "complete":
            return
        iteration, difficulty = record.phase + 1, record.meta.get("difficulty")
        self.by_iteration[iteration].add(record)
        self.by_difficulty[(iteration, difficulty)].add(record)
        pairs = 0
        if mode_of(record) == "amplified":
            self.nodes.add_tree(record)
            if not held_out_of(record):
                pairs = sum(1 for _ in _pair_nodes(record, self.seen))
        self.distilled[iteration].add(record, pairs)
        self.distilled_by_difficulty[(iteration, difficulty)].add(record, pairs)

    def iteration_rows(self) -> list[IterationRow]:
        ordered = sorted(self.by_iteration.items())
        return [IterationRow(iteration=it, **cell.comparison().model_dump()) for it, cell in ordered]

    def difficulty_rows(self) -> list[DifficultyRow]:
        ordered = sorted(self.by_difficulty.items(), key=lambda kv: (kv[0][0], _sort_key(kv[0][1])))
        return [
            DifficultyRow(iteration=it, difficulty=difficulty, **cell.comparison().model_dump())
            for (it, difficulty), cell in ordered
        ]

    def distillation_rows(self) -> list[DistillationRow]:
        ordered = sorted(self.distilled.items())
        return [DistillationRow(iteration=it, **cell.distilled().model_dump()) for it, cell in ordered]

    def distillation_difficulty_rows(self) -> list[DistillationDifficultyRow]:
        ordered = sorted(self.distilled_by_difficulty.items(), key=lambda kv: (kv[0][0], _sort_key(kv[0][1])))
        return [
            DistillationDifficultyRow(iteration=it, difficulty=difficulty, **cell.distilled().model_dump())
            for (it, difficulty), cell in ordered
        ]

    def metrics(self, max_calls: int) -> IdaMetrics:
        per_iteration = self.iteration_rows()
        last = per_iteration[-1] if per_iteration else None
        nodes = self.nodes
        return IdaMetrics(
            amplified_accuracy=last.amplified if last else None,
            direct_accuracy=last.direct if last else None,
            iterations=len(per_iteration),
            nodes=nodes.nodes,
            decomposed_nodes=nodes.modes["decomposed"],
            memo_hits_tree=nodes.memo["tree"],
            memo_hits_run=nodes.memo["run"],
            forced_max_depth=nodes.reasons["max_depth"],
            forced_budget=nodes.reasons["budget"],
            forced_malformed=nodes.reasons["malformed"],
            delegated_nodes=nodes.modes["delegated"],
            malformed_replies=nodes.malformed,
            largest_tree_calls=nodes.largest,
            max_calls=max_calls,
            amplified_vs_direct=self.difficulty_rows(),
            per_iteration=per_iteration,
            distillation=self.distillation_rows(),
            distillation_by_difficulty=self.distillation_difficulty_rows(),
            node_accuracy_by_depth=nodes.depth_rows(),
        )


def ida_metrics(records: Iterable[GameRecord], max_calls: int) -> IdaMetrics:
    """The protocol's figures in one pass over the records (a list or a stream), counting; no record or tree
    node is kept."""
    counts = _IdaCounts()
    for record in records:
        counts.add(record)
    return counts.metrics(max_calls)
