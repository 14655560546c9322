"""The families' typed metrics on hand-built records, checked against figures worked out by hand, and the JSON
the summary keeps of them."""

from __future__ import annotations

from typing import Any

from oversight.models.base import Usage
from oversight.protocols.debate.metrics import DebateMetrics, debate_metrics
from oversight.protocols.ida.metrics import IdaMetrics, ida_metrics
from oversight.records import GameRecord, ModelCall, Turn, Verdict
from tests.test_ratings import NOW


def _record(**fields: Any) -> GameRecord:
    base: dict[str, Any] = {
        "game_id": "g", "protocol": "debate", "task": "t", "item_id": "i", "status": "complete", "roles": {},
        "question": "q", "choices": ["yes", "no"], "answer": 0, "started_at": NOW, "finished_at": NOW,
    }  # fmt: skip
    return GameRecord(**{**base, **fields})


def _argument(seat: str, side: str, verified: list[bool]) -> Turn:
    quotes = [{"verified": v} for v in verified]
    return Turn(role=f"debater_{seat.lower()}", seat=seat, content="...", meta={"kind": "argument", "side": side,
                                                                                "quotes": quotes})


def test_debate_win_rates_by_seat_and_side_and_quote_rates() -> None:
    records = [
        # A defends the answer and wins; A quotes twice (one verified), B not at all
        _record(seating={"A": 0, "B": 1}, verdict=Verdict(choice=0),
                turns=[_argument("A", "correct", [True, False]), _argument("B", "incorrect", [])]),
        # B defends the answer and wins; each quotes once, verified; A had picked the answer it defends wrongly
        _record(seating={"A": 1, "B": 0}, verdict=Verdict(choice=0),
                turns=[Turn(role="debater_a", seat="A", content="B", meta={"kind": "choice", "chose_correct": False}),
                       _argument("A", "incorrect", [True]), _argument("B", "correct", [True])]),
    ]  # fmt: skip
    metrics = debate_metrics(records)
    assert isinstance(metrics, DebateMetrics) and (metrics.judged, metrics.invalid_verdicts) == (2, 0)
    assert [(r.seat, r.games, r.win_rate) for r in metrics.win_rate_by_seat or []] == [("A", 2, 0.5), ("B", 2, 0.5)]
    sides = [(r.side, r.games, r.win_rate, r.quotes, r.verified_rate) for r in metrics.by_side or []]
    assert sides == [("correct", 2, 1.0, 3, 2 / 3), ("incorrect", 2, 0.0, 1, 1.0)]
    assert metrics.chose_correct_rate == 0.0


def test_debate_figures_that_do_not_apply_are_left_out_of_the_json() -> None:
    blind = debate_metrics([_record(verdict=Verdict(choice=1))])
    assert blind.model_dump(mode="json") == {
        "schema_version": 1, "judged": 1, "invalid_verdicts": 0, "with_probabilities": 0,
        "order_averaged_accuracy": 0.0, "order_averaged_items": 1, "ece_10_bins": None, "brier": None,
        "log_score": None,
    }  # fmt: skip


def test_order_averaged_accuracy_evens_out_a_judge_that_favours_a_position() -> None:
    """Hand-worked: three items, each played in both seat orders with the answers shown swapped.

    - ``x``: the judge always says B (position bias). Shown in order (0, 1) the answer is at A, so B is wrong;
      shown (1, 0) it is at B, so B is right. Averaged in the task's order: [0.5, 0.5], a tie → 1/2.
    - ``y``: probabilities 0.8 and 0.6 on the answer → mean 0.7 on it → 1.
    - ``z``: 0.9 against the answer in one order, 0.7 for it in the other → mean 0.4 on it → 0.
    Order-averaged accuracy: (1/2 + 1 + 0) / 3 = 0.5. Raw accuracy over the six games would be 3/6 correct picks."""
    def game(item: str, order: list[int], choice: int, probabilities: list[float] | None = None) -> GameRecord:
        shown_answer = order.index(0)  # the task's answer is its choice 0
        return _record(item_id=item, choice_order=order, answer=shown_answer, seating={"A": 0, "B": 1},
                       verdict=Verdict(choice=choice, probabilities=probabilities))

    records = [
        game("x", [0, 1], 1), game("x", [1, 0], 1),
        game("y", [0, 1], 0, [0.8, 0.2]), game("y", [1, 0], 1, [0.4, 0.6]),
        game("z", [0, 1], 1, [0.1, 0.9]), game("z", [1, 0], 1, [0.3, 0.7]),
    ]  # fmt: skip
    metrics = debate_metrics(records)
    assert metrics.order_averaged_items == 3
    assert metrics.order_averaged_accuracy == 0.5
    # another matchup's games of the same item are averaged apart from these
    other = game("x", [0, 1], 0).model_copy(update={"players": {"judge": "other"}})
    assert debate_metrics([*records, other]).order_averaged_items == 4


def _tokens(prompt: int, completion: int) -> ModelCall:
    return ModelCall(role="decomposer", model="m", usage=Usage(prompt_tokens=prompt, completion_tokens=completion))


def test_ida_amplified_against_direct_and_node_accuracy_by_depth() -> None:
    tree = [
        {"id": "1", "parent": None, "depth": 0, "mode": "decomposed", "correct": True},
        {"id": "1.1", "parent": "1", "depth": 1, "mode": "forced", "reason": "budget", "correct": False, "malformed": 1},
        {"id": "1.2", "parent": "1", "depth": 1, "mode": "memo", "memo": "tree", "correct": True},
    ]
    common = {"protocol": "ida", "choices": [], "answer": "9"}
    records = [
        _record(**common, sample=0, correct=True, calls=[_tokens(10, 5), _tokens(12, 3)],
                meta={"mode": "amplified", "difficulty": 2, "tree": tree}),
        _record(**common, sample=1, correct=False, calls=[_tokens(7, 1)], meta={"mode": "direct", "difficulty": 2}),
    ]  # fmt: skip
    metrics = ida_metrics(records, max_calls=50)
    assert isinstance(metrics, IdaMetrics)
    assert (metrics.amplified_accuracy, metrics.direct_accuracy, metrics.iterations) == (1.0, 0.0, 1)
    assert (metrics.nodes, metrics.decomposed_nodes, metrics.memo_hits_tree, metrics.forced_budget) == (3, 1, 1, 1)
    assert (metrics.malformed_replies, metrics.largest_tree_calls, metrics.max_calls) == (1, 2, 50)
    [row] = metrics.amplified_vs_direct
    # one item each way; the amplified tree made 2 calls of 15 tokens each
    assert (row.iteration, row.difficulty, row.items, row.calls_per_item, row.tokens_per_item) == (1, 2, 1, 2.0, 30)
    # the memo hit repeats another node, so it is left out of the depths
    assert [(r.depth, r.nodes, r.accuracy) for r in metrics.node_accuracy_by_depth] == [(0, 1, 1.0), (1, 1, 0.0)]
    stored = metrics.model_dump(mode="json")
    assert list(stored["per_iteration"][0]) == [
        "iteration", "items", "amplified", "amplified_ci95", "direct", "direct_ci95", "calls_per_item", "tokens_per_item"
    ]
    assert IdaMetrics.model_validate(stored) == metrics
