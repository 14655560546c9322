"""What an ``ida`` run adds to its summary and its folder: the amplified-vs-direct table and the distilled data.

``metrics`` gives accuracy of the amplified tree and of the direct answer by iteration and difficulty (95% Wilson
intervals, as ``[low, high]``), calls and tokens per amplified item (a direct answer is one call), accuracy of
tree nodes by depth (where exact answers are known: how errors travel up), and counts of memo hits, forced
answers and unreadable replies.

Distillation: every complete amplified tree gives (question, answer) pairs — its root and every node that
decomposed, once per question. ``distilled-K.jsonl`` holds them as SFT chat rows (``{"messages": [...]}``) for
iteration K; ``distilled-pairs.jsonl`` the same pairs with where they came from and whether they were right.
:class:`ExampleIndex` picks the most similar pairs (TF-IDF cosine) as the next iteration's in-context examples.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from oversight.records import GameRecord
from oversight.scoring import wilson_interval
from oversight.tasks.decomposable import canonical_question

SFT_SYSTEM = "Answer the question. Reply with one line: ANSWER: <the answer>"
_TOKEN = re.compile(r"[a-z]+|\d+|[^\sa-z\d]")


def mode_of(record: GameRecord) -> str:
    return str(record.meta.get("mode") or ("direct" if record.sample == 1 else "amplified"))


# -- distillation ----------------------------------------------------------------------------------------------
def distilled_pairs(records: Iterable[GameRecord]) -> list[dict[str, Any]]:
    """(question, amplified answer) pairs of the complete amplified trees, in record order, once per question."""
    pairs: list[dict[str, Any]] = []
    seen: set[tuple[int, str]] = set()
    for record in records:
        if record.status != "complete" or mode_of(record) != "amplified":
            continue
        for node in record.meta.get("tree", []):
            is_root = node.get("parent") is None
            if node.get("answer") is None or not (is_root or node.get("mode") == "decomposed"):
                continue
            key = (record.phase, canonical_question(node["question"]))
            if key in seen:
                continue
            seen.add(key)
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
            })
    return pairs


def sft_row(pair: dict[str, Any]) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": SFT_SYSTEM},
            {"role": "user", "content": pair["question"]},
            {"role": "assistant", "content": f"ANSWER: {pair['answer']}"},
        ]
    }


def sft_files(records: Iterable[GameRecord]) -> dict[str, list[dict[str, Any]]]:
    pairs = distilled_pairs(records)
    if not pairs:
        return {}
    files: dict[str, list[dict[str, Any]]] = {"distilled-pairs.jsonl": pairs}
    for iteration in sorted({p["iteration"] for p in pairs}):
        files[f"distilled-{iteration}.jsonl"] = [sft_row(p) for p in pairs if p["iteration"] == iteration]
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
def _accuracy(prefix: str, n: int, correct: int) -> dict[str, Any]:
    ci = wilson_interval(correct, n)
    return {
        prefix: correct / n if n else None,
        f"{prefix}_ci95": [round(ci.low, 3), round(ci.high, 3)] if ci else None,
    }


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

    def row(self) -> dict[str, Any]:
        n = self.amplified
        return {
            "items": max(n, self.direct),
            **_accuracy("amplified", n, self.amplified_correct),
            **_accuracy("direct", self.direct, self.direct_correct),
            "calls_per_item": self.calls / n if n else None,
            "tokens_per_item": round(self.tokens / n) if n else None,
        }


def _sort_key(value: Any) -> tuple[int, Any]:
    return (1, "") if value is None else (0, value)


def ida_metrics(records: Iterable[GameRecord], max_calls: int) -> dict[str, Any]:
    """One pass over the records (a list or a stream), counting; no record or tree node is kept."""
    by_iteration: dict[int, _Cell] = defaultdict(_Cell)
    by_difficulty: dict[tuple[int, Any], _Cell] = defaultdict(_Cell)
    #: depth → [nodes whose correctness is known, correct ones] (memo hits left out: they repeat another node)
    by_depth: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    nodes = malformed = largest = 0
    modes: Counter[Any] = Counter()
    reasons: Counter[Any] = Counter()
    memo: Counter[Any] = Counter()
    for record in records:
        if record.status != "complete":
            continue
        by_iteration[record.phase + 1].add(record)
        by_difficulty[(record.phase + 1, record.meta.get("difficulty"))].add(record)
        if mode_of(record) != "amplified":
            continue
        largest = max(largest, len(record.calls))
        for node in record.meta.get("tree", []):
            nodes += 1
            modes[node.get("mode")] += 1
            malformed += node.get("malformed", 0)
            if node.get("mode") == "forced":
                reasons[node.get("reason")] += 1
            if node.get("memo"):
                memo[node.get("memo")] += 1
            if node.get("correct") is not None and node.get("mode") != "memo":
                known = by_depth[node["depth"]]
                known[0] += 1
                known[1] += bool(node["correct"])
    per_iteration = [{"iteration": it, **cell.row()} for it, cell in sorted(by_iteration.items())]
    table = [
        {"iteration": it, "difficulty": difficulty, **cell.row()}
        for (it, difficulty), cell in sorted(by_difficulty.items(), key=lambda kv: (kv[0][0], _sort_key(kv[0][1])))
    ]
    depth_rows = [
        {"depth": depth, "nodes": n, "accuracy": correct / n} for depth, (n, correct) in sorted(by_depth.items())
    ]
    last = per_iteration[-1] if per_iteration else {}
    return {
        "amplified_accuracy": last.get("amplified"),
        "direct_accuracy": last.get("direct"),
        "iterations": len(per_iteration),
        "nodes": nodes,
        "decomposed_nodes": modes["decomposed"],
        "memo_hits_tree": memo["tree"],
        "memo_hits_run": memo["run"],
        "forced_max_depth": reasons["max_depth"],
        "forced_budget": reasons["budget"],
        "forced_malformed": reasons["malformed"],
        "malformed_replies": malformed,
        "largest_tree_calls": largest,
        "max_calls": max_calls,
        "amplified_vs_direct": table,
        "per_iteration": per_iteration,
        "node_accuracy_by_depth": depth_rows,
    }
