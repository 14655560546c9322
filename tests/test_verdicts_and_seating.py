"""Numbers that mean what they say: the recorded choice is the judge's written answer, calibration scores use
the probabilities they are defined on, and no seat, consultant side or choice position carries the truth."""

from __future__ import annotations

import asyncio
import math
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from oversight.protocols.debate.metrics import debate_metrics

from oversight.judges import JudgeTurn, JudgeView
from oversight.models.base import Completion, TokenLogprob, TopLogprob
from oversight.prompts import PromptLibrary
from oversight.protocol import PROTOCOLS
from oversight.records import GameRecord, Verdict
from oversight.runner import RunConfig, execute
from oversight.verdicts import parse_verdict

from .conftest import oversight, read_lines

PLUGINS = Path(__file__).parent / "plugins" / "position_judges.py"
TWO = ["In the boathouse", "In the greenhouse"]
THREE = ["In the boathouse", "In the greenhouse", "In the attic"]
DEBATE_FAMILY = ["debate", "interactive-debate", "open-debate", "consultancy", "open-consultancy", "blind", "expert"]


def _judged(text: str, mass: dict[str, float] | None = None) -> Completion:
    """A reply whose label token carries ``mass`` as its top logprobs (as a real server reports them)."""
    if mass is None:
        return Completion(text=text)
    written = re.search(r"Answer:\s*\W*([A-Z])", text)
    assert written is not None
    tops = [TopLogprob(token=f" {label}", logprob=math.log(p)) for label, p in mass.items()]
    tokens = [TokenLogprob(token="Answer", logprob=0.0), TokenLogprob(token=":", logprob=0.0),
              TokenLogprob(token=f" {written.group(1)}", logprob=math.log(mass[written.group(1)]), top_logprobs=tops)]
    return Completion(text=text, logprobs=tokens)


# -- the recorded choice is the written answer ---------------------------------------------------------------------


def test_the_written_label_is_recorded_even_when_the_logprobs_favour_another() -> None:
    verdict = parse_verdict(_judged("Answer: B\nConfidence: 60%", {"A": 0.7, "B": 0.3}), TWO)
    assert verdict.choice == 1
    assert verdict.probabilities == pytest.approx([0.7, 0.3]) and verdict.source == "logprobs"
    assert verdict.belief_disagrees


def test_an_even_split_keeps_the_written_label() -> None:
    verdict = parse_verdict(_judged("Answer: B", {"A": 0.5, "B": 0.5}), TWO)
    assert verdict.choice == 1 and not verdict.belief_disagrees


@pytest.mark.parametrize(
    ("reply", "choice"),
    [
        ("Answer: B\nConfidence: 70%", 1),
        ("Answer: <B>\nConfidence: 70%", 1),
        ("Answer: (B)", 1),
        ("Answer: **B**", 1),
        ("answer: b.", 1),
        ("The answer is B.", 1),
        ("Answer: Choice B", 1),
        ("Answer: B) In the greenhouse", 1),
        ("Answer: In the greenhouse", 1),
        ("Answer: in the greenhouse.", 1),
        ("B", 1),
        ("(A)", 0),
        ("In the boathouse", 0),
    ],
)
def test_a_reply_that_names_one_answer_is_read_as_that_answer(reply: str, choice: int) -> None:
    assert parse_verdict(Completion(text=reply), TWO).choice == choice


@pytest.mark.parametrize(
    "reply",
    ["Answer: A\nAnswer: B", "Answer: B) In the boathouse", "I cannot tell.", "Answer: C", "Answer: <the letter>", ""],
)
def test_a_reply_that_names_no_answer_or_two_is_invalid(reply: str) -> None:
    assert parse_verdict(Completion(text=reply), TWO).choice is None


def test_a_choice_that_starts_like_a_label_is_read_by_its_text() -> None:
    choices = ["A dog", "A cat"]
    assert parse_verdict(Completion(text="Answer: A cat"), choices).choice == 1


def test_over_http_every_recorded_choice_is_the_label_the_judge_wrote(openai_env: dict[str, str], workdir: Path) -> None:
    roles = ["--model", "openai/debater", "--judge", "openai/judge"]
    result = oversight("run", "debate", "--limit", "20", "--rounds", "1", "--out", "run", *roles, env=openai_env)
    assert result.returncode == 0, result.stderr
    records = read_lines(workdir / "run" / "transcripts.jsonl")
    assert len(records) == 40
    for record in records:
        written = re.search(r"Answer: ([A-Z])", record["verdict"]["raw"])
        assert written is not None
        assert record["verdict"]["choice"] == "AB".index(written.group(1))


def test_blind_choices_are_not_all_the_first(workdir: Path) -> None:
    records = _run("blind", workdir / "blind", limit=40).folder.records()
    counts = Counter(r.verdict.choice for r in records if r.verdict)
    assert len(records) == 40 and counts[0] < 40 and counts[1] < 40, counts


# -- calibration, by hand ------------------------------------------------------------------------------------------


def _record(choices: list[str], answer: int, reply: str) -> GameRecord:
    now = datetime.now(UTC)
    verdict = parse_verdict(Completion(text=reply), choices)
    return GameRecord(game_id=reply, protocol="debate", task="t", item_id="i", status="complete", roles={},
                      question="q", choices=choices, answer=answer, verdict=verdict,
                      correct=verdict.choice == answer, started_at=now, finished_at=now)


def test_calibration_uses_the_chosen_answers_probability_and_the_correct_answers() -> None:
    records = [
        _record(TWO, 0, "Answer: A\nConfidence: 30%"),  # right, at 30%: p = [0.3, 0.7]
        _record(TWO, 0, "Answer: B\nConfidence: 80%"),  # wrong, at 80%: p = [0.2, 0.8]
        _record(THREE, 1, "Answer: C\nConfidence: 30%"),  # wrong, at 30%: p = [0.35, 0.35, 0.3]
        _record(TWO, 1, "Answer: B\nConfidence: 90%"),  # right, at 90%
    ]
    metrics = debate_metrics(records)
    # ECE: bins of the chosen answer's probability — (0.2, 0.3] holds 0.3 (right) and 0.3 (wrong): |0.5 − 0.3|;
    # (0.7, 0.8] holds 0.8 (wrong): |0 − 0.8|; (0.8, 0.9] holds 0.9 (right): |1 − 0.9|
    assert metrics.ece_10_bins == pytest.approx((2 * 0.2 + 0.8 + 0.1) / 4)
    # Brier and log score: the probability given to the correct answer — 0.3, 0.2, 0.35, 0.9
    assert metrics.brier == pytest.approx((0.7**2 + 0.8**2 + 0.65**2 + 0.1**2) / 4)
    assert metrics.log_score == pytest.approx((math.log(0.3) + math.log(0.2) + math.log(0.35) + math.log(0.9)) / 4)


def test_a_stated_confidence_below_half_is_counted_as_disagreeing() -> None:
    records = [_record(TWO, 0, "Answer: A\nConfidence: 30%"), _record(TWO, 0, "Answer: A\nConfidence: 60%")]
    assert [r.verdict.belief_disagrees for r in records if r.verdict] == [True, False]


def test_the_summary_counts_invalid_wrong_and_disagreeing_verdicts_apart(workdir: Path) -> None:
    result = _run("debate", workdir / "c", limit=4, judge="scripted/constant?text=Answer: A%0AConfidence: 30%")
    summary = result.summary.by_protocol["debate"]
    assert summary.judged == 8 and summary.correct + summary.wrong + summary.invalid_verdicts == 8
    assert summary.belief_disagrees == 8
    invalid = _run("debate", workdir / "i", limit=2, judge="scripted/constant?text=Hmm.").summary.by_protocol["debate"]
    assert invalid.invalid_verdicts == invalid.judged == 4 and invalid.wrong == 0 and invalid.accuracy == 0


# -- seats, sides and choice orders --------------------------------------------------------------------------------


def _run(protocol: str, out: Path, **overrides: object):
    config = RunConfig(protocol=protocol, out=out, **{"options": {"rounds": 1}, **overrides})  # type: ignore[arg-type]
    return asyncio.run(execute(config, ["test"]))


@pytest.mark.parametrize("protocol", DEBATE_FAMILY)
@pytest.mark.parametrize("both_seatings", [True, False])
def test_a_judge_that_always_picks_the_first_choice_scores_one_half(workdir: Path, protocol: str, both_seatings: bool) -> None:
    result = _run(protocol, workdir / "run", limit=20, judge=[f"{PLUGINS}:first_label"],
                  options={"rounds": 1, "both_seatings": both_seatings})
    assert result.summary.accuracy == 0.5
    records = result.folder.records()
    assert all(sorted(r.choice_order) == list(range(len(r.choices))) for r in records)


@pytest.mark.parametrize("protocol", ["debate", "consultancy", "interactive-debate"])
def test_with_one_seating_per_item_the_first_speaker_holds_the_truth_half_the_time(workdir: Path, protocol: str) -> None:
    result = _run(protocol, workdir / "run", limit=20, judge=[f"{PLUGINS}:first_speaker"],
                  options={"rounds": 1, "both_seatings": False})
    records = result.folder.records()
    assert len(records) == 20
    assert result.summary.accuracy == 0.5
    if protocol == "consultancy":
        sides = Counter(r.seating["consultant"] == r.answer for r in records)
        assert sides[True] == sides[False] == 10


def test_with_one_seating_per_item_the_open_debate_chooser_sits_in_each_seat_equally(workdir: Path) -> None:
    records = _run("open-debate", workdir / "run", limit=20, options={"rounds": 1, "both_seatings": False}).folder.records()
    choosers = Counter(next(t.seat for t in r.turns if t.meta.get("kind") == "choice") for r in records)
    assert choosers == {"A": 10, "B": 10}


def test_seatings_and_orders_follow_the_seed_and_are_recorded(workdir: Path) -> None:
    def plan(seed: int) -> list[tuple[int, ...]]:
        records = _run("debate", workdir / f"s{seed}", limit=12, seed=seed,
                       options={"rounds": 1, "both_seatings": False}).folder.records()
        return sorted((r.item_id, r.seating["A"], *r.choice_order) for r in records)  # type: ignore[misc]

    assert plan(0) == plan(0)
    assert plan(0) != plan(1)


def test_a_longer_run_keeps_the_seatings_of_the_items_it_shares(workdir: Path) -> None:
    short = _run("debate", workdir / "run", limit=6, options={"rounds": 1, "both_seatings": False})
    longer = _run("debate", workdir / "run", limit=12, options={"rounds": 1, "both_seatings": False})
    first = {r.game_id for r in short.folder.records()}
    assert first <= {r.game_id for r in longer.folder.records()}
    assert len(longer.folder.records()) == 12


# -- what judges are told --------------------------------------------------------------------------------------------


def _judge_prompt(protocol: str) -> str:
    cls = PROTOCOLS.get(protocol)
    instance = cls(cls.options_model())
    speaks = [role for role in instance.roles if role != "judge"]
    turns = [JudgeTurn(speaker="Debater A", seat="A", round=1, defends=0, content="It is A.")] if speaks else []
    view = JudgeView(protocol=protocol, question="Where is the key?", choices=TWO, labels=["A", "B"], turns=turns,
                     passage="The key is in the boathouse." if protocol == "expert" else None, round=1, rounds=1)
    messages = PromptLibrary().render("debate/judge.j2", {**view.model_dump(), "retry": False})
    return " ".join(" ".join(m.content for m in messages).split())


@pytest.mark.parametrize("protocol", DEBATE_FAMILY)
def test_judge_instructions_say_only_what_is_true_of_the_protocol(protocol: str) -> None:
    prompt = _judge_prompt(protocol)
    assert "as likely to be arguing for a wrong answer as for the right one" in prompt if protocol == "consultancy" \
        else "as likely" not in prompt
    assert ("chose which answer" in prompt) == protocol.startswith("open-")
    assert ("cannot read" in prompt) == (protocol != "expert")
    assert ("all but one of" in prompt) == (protocol in ("debate", "interactive-debate"))
    # nothing in angle brackets for a model to copy as its answer
    assert not re.search(r"<[a-z][^<>]* [^<>]*>", prompt), prompt
    assert "Answer:" in prompt and "(A or B)" in prompt
