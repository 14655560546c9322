"""Prompt tokens per game, by protocol: what a reader compares with the game's unique text to see how much of each
prompt a backend computed again."""

from __future__ import annotations

from oversight.models.base import Usage
from oversight.records import GameRecord, ModelCall
from oversight.scoring import summarise
from oversight.show import per_game_sheet


def _game(game_id: str, protocol: str, calls: list[ModelCall]) -> GameRecord:
    return GameRecord(
        game_id=game_id, protocol=protocol, task="t", item_id=game_id, status="complete", roles={}, question="q",
        choices=["x", "y"], answer=0, calls=calls, started_at=0.0, finished_at=1.0,
    )


def _call(prompt: int, completion: int, reused: int | None, cached: bool = False) -> ModelCall:
    usage = Usage(prompt_tokens=prompt, completion_tokens=completion, cached_prompt_tokens=reused)
    return ModelCall(role="debater_a", model="m", usage=usage, cached=cached)


def test_tokens_per_game_are_summed_by_protocol_and_divided_by_its_games() -> None:
    records = [
        # debate: two games, every call told its reuse
        _game("d1", "debate", [_call(400, 50, 0), _call(450, 50, 380), _call(300, 5, 0)]),
        _game("d2", "debate", [_call(410, 40, 100), _call(460, 60, 400), _call(310, 5, 0)]),
        # consultancy: one call of its game did not say what it reused, another was replayed by the response cache
        _game("c1", "consultancy", [_call(500, 70, 200), _call(520, 70, None), _call(200, 5, 0, cached=True)]),
    ]
    summary = summarise("run", records)
    debate = summary.usage_by_protocol["debate"]
    # by hand: sent 400+450+300+410+460+310 = 2330; reused 0+380+0+100+400+0 = 880; computed 2330-880 = 1450
    assert (debate.calls, debate.prompt_tokens, debate.cached_prompt_tokens, debate.computed_prompt_tokens) == (
        6, 2330, 880, 1450
    )
    assert debate.completion_tokens == 50 + 50 + 5 + 40 + 60 + 5
    consultancy = summary.usage_by_protocol["consultancy"]
    assert (consultancy.calls, consultancy.cached_calls, consultancy.reuse_reported_calls) == (3, 1, 1)

    rows = {row[0]: row for row in per_game_sheet(summary).rows}
    # per game: 2330 / 2 = 1165 sent, 1450 / 2 = 725 computed, 210 / 2 = 105 generated
    assert rows["debate"] == ["debate", "2", "1,165", "725", "105"]
    # one call sent to a backend did not say what it reused: its computed figure would be a guess
    assert rows["consultancy"] == ["consultancy", "1", "1,220", "-", "145"]


def test_each_games_row_has_the_prompt_tokens_its_backend_computed() -> None:
    from oversight.dataframe import game_row

    told = _game("d1", "debate", [_call(400, 50, 0), _call(450, 50, 380), _call(200, 5, 0, cached=True)])
    # by hand: the two calls sent computed 400 + (450 - 380) = 470; the replayed call sent nothing
    assert game_row(told)["computed_prompt_tokens"] == 470
    assert game_row(told)["prompt_tokens"] == 1050
    untold = _game("c1", "consultancy", [_call(500, 70, 200), _call(520, 70, None)])
    assert game_row(untold)["computed_prompt_tokens"] is None
