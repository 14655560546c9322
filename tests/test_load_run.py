"""``oversight.load_run``: a run folder as a pandas DataFrame with flat columns, one row per game."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import oversight
from oversight.errors import UserError

from .conftest import oversight_in_process, read_lines
from .test_compare import game, write_run


def test_a_scripted_run_loads_one_row_per_game(workdir: Path) -> None:
    assert oversight_in_process("run", "consultancy", "--limit", "2", "--out", "run").returncode == 0
    raw = read_lines(workdir / "run" / "transcripts.jsonl")
    games = oversight.load_run("run")
    assert len(games) == 4
    assert games.game_id.tolist() == [r["game_id"] for r in raw]
    assert list(games.columns[:5]) == ["game_id", "protocol", "variant", "task", "item_id"]
    flat = {"seat_consultant", "role_consultant", "role_judge", "verdict_p0", "verdict_p1", "item_meta_family"}
    assert flat <= set(games.columns)
    assert not any(c.startswith(("seat_A", "player_")) for c in games.columns)  # no debaters, no tournament
    assert set(games.protocol) == {"consultancy"} and set(games.role_consultant) == {"scripted/auto"}
    # the scripted consultant wins whichever side it argues: a game is right exactly when it argues the answer
    assert (games.correct == (games.seat_consultant == games.answer)).all()
    assert games.correct.mean() == 0.5
    assert games.verdict_choice.tolist() == [r["verdict"]["choice"] for r in raw]
    assert games.verdict_p1.tolist() == [r["verdict"]["probabilities"][1] for r in raw]
    assert games.prompt_tokens.tolist() == [sum(c["usage"]["prompt_tokens"] for c in r["calls"]) for r in raw]
    assert games.calls.tolist() == [len(r["calls"]) for r in raw]
    assert games.turns.tolist() == [len(r["turns"]) for r in raw]
    assert str(games.started_at.dt.tz) == "UTC"


def test_players_failures_and_metadata_are_flat_columns(workdir: Path) -> None:
    players = {"debater_a": "quoter", "debater_b": "inventor", "judge": "reader"}
    write_run(workdir / "run", [
        game("q1", True, players=players, meta={"source_game": "0123456789abcdef", "tree": [{"id": "1"}]},
             item_meta={"difficulty": 2, "tags": ["x"]}),
        game("q2", None, status="failed", players=players),
        game("q3", False, protocol="blind", seating={}, roles={"judge": "scripted/judge"}),
    ])
    games = oversight.load_run(workdir / "run")
    first, failed, blind = (games.iloc[i] for i in range(3))
    assert (first.player_debater_a, first.player_debater_b, first.player_judge) == ("quoter", "inventor", "reader")
    assert (first.seat_A, first.seat_B, first.verdict_choice, first.verdict_p1) == (0, 1, 1, 0.75)
    assert first.meta_source_game == "0123456789abcdef" and first.item_meta_difficulty == 2
    assert "meta_tree" not in games.columns and "item_meta_tags" not in games.columns  # nested values stay in the log
    assert failed.status == "failed" and failed.error == "connection refused"
    assert failed.correct is pd.NA and failed.verdict_choice is pd.NA
    assert blind.role_judge == "scripted/judge" and pd.isna(blind.role_debater_a) and pd.isna(blind.seat_A)
    assert games.correct.tolist() == [True, pd.NA, False]


def test_not_a_run_folder(workdir: Path) -> None:
    with pytest.raises(UserError, match="not a run folder"):
        oversight.load_run(workdir)


def test_without_pandas_it_says_what_to_install(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_run(workdir / "run", [game("q1", True)])
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if pandas were not installed
    missing = r"^oversight.load_run needs pandas: pip install 'oversight-sim\[analysis\]'$"
    with pytest.raises(ImportError, match=missing):
        oversight.load_run(workdir / "run")


def test_importing_oversight_does_not_import_pandas() -> None:
    probe = "import sys, oversight\noversight.load_run\nprint('pandas' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "False"
