"""The run's estimate of the time left rests on model calls, not on finished games alone, and leaves the time spent
loading models out."""

from __future__ import annotations

import io

import pytest

from oversight import progress
from oversight.models.base import Usage
from oversight.progress import RunProgress
from oversight.records import GameRecord, ModelCall
from tests.test_ratings import NOW


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _finished(calls: int) -> GameRecord:
    return GameRecord(
        game_id="g", protocol="blind", task="t", item_id="i", status="complete", roles={}, question="q",
        answer=0, started_at=NOW, finished_at=NOW, calls=[ModelCall(role="judge", model="m", usage=Usage()) for _ in range(calls)],
    )  # fmt: skip


def test_the_estimate_counts_calls_and_leaves_loading_out(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    stream = io.StringIO()
    shown = RunProgress(10, 0, "blind on t", stream=stream)
    assert shown.remaining() is None  # nothing finished: nothing to go on

    shown.loading("llamacpp/m")
    clock.now = 10.0
    shown.loaded("llamacpp/m", 10.0)
    for _ in range(8):
        shown.called()
    clock.now = 40.0
    shown.game_finished(_finished(3))
    shown.game_finished(_finished(3))
    # by hand: 3 calls a game; 8 games left need 24 calls, the 2 games in flight made 2 of them → 22 calls left;
    # 8 calls in 30 s of work (40 s less 10 s of loading) → 22 × 30 / 8 = 82.5 s
    assert shown.remaining() == pytest.approx(82.5)
    text = stream.getvalue()
    assert "loading llamacpp/m" in text and "llamacpp/m ready in 10.0 s" in text
