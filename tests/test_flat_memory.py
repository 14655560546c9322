"""Reading a run back without holding it: the streamed summary, the log's index, the capped game list and the
report's sample. (Time and memory at 100,000 games are measured by benchmarks/bench_memory.py, not here.)"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from oversight.ratings import game_results, ratings
from oversight.runfolder import RunFolder
from oversight.runner import make_protocol
from oversight.scoring import summarise
from tests.conftest import oversight, oversight_in_process, scripted_tournament

TOURNAMENT = scripted_tournament("mixed", 3, ["debate", "consultancy", "open-debate", "blind"], {"reader": "scripted/judge"})


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    where = tmp_path_factory.mktemp("cache")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return env | {"OVERSIGHT_CACHE_DIR": str(where), "OVERSIGHT_MODEL": "scripted/auto"}


@pytest.fixture(scope="module")
def tournament(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    """Four protocols, two players, ratings: 39 games."""
    where = tmp_path_factory.mktemp("tournament")
    (where / "mixed.toml").write_text(TOURNAMENT, encoding="utf-8")
    result = oversight("tournament", "mixed.toml", "--out", "run", env=env, cwd=where)
    assert result.returncode == 0, result.stderr
    return where / "run"


@pytest.fixture(scope="module")
def debate(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    """202 games: more than `oversight show` lists by default."""
    where = tmp_path_factory.mktemp("debate")
    result = oversight("run", "debate", "--limit", "101", "--rounds", "1", "--out", "run", env=env, cwd=where)
    assert result.returncode == 0, result.stderr
    return where / "run"


def list_based_summary(folder: RunFolder, options: dict[str, Any]) -> dict[str, Any]:
    """The summary computed the plain way: every record in one list, each protocol's metrics on its own list."""
    records = folder.records()
    summary = summarise(folder.path.name, records, planned=len(records))
    for name in sorted({r.protocol for r in records}):
        figures = make_protocol(name, options).metrics([r for r in records if r.protocol == name])
        if figures is not None:
            summary.metrics[name] = figures.model_dump(mode="json")
    rated = ratings(game_results(records))
    if rated.players or rated.judges:
        summary.ratings = rated.model_dump(mode="json")
    return summary.model_dump(mode="json")


def test_streamed_summary_of_a_tournament_equals_the_list_based_one(tournament: Path) -> None:
    folder = RunFolder(tournament)
    written = json.loads(folder.summary_path.read_text(encoding="utf-8"))
    assert written["games"] == 39 and set(written["metrics"]) == {"debate", "consultancy", "open-debate", "blind"}
    assert written["ratings"]["players"]
    assert written == list_based_summary(folder, {"rounds": 1})


def test_streamed_summary_of_a_phased_run_equals_the_list_based_one(tmp_path: Path, env: dict[str, str]) -> None:
    """ida plays in phases (the second reads the first's trees) and writes artifacts from its records."""
    result = oversight(
        "run", "ida", "--model", "scripted/noisy-oracle?p=0.3", "--iterations", "2", "--limit", "4", "--out", "run",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    folder = RunFolder(tmp_path / "run")
    written = json.loads(folder.summary_path.read_text(encoding="utf-8"))
    assert written["metrics"]["ida"]["iterations"] == 2
    assert written == list_based_summary(folder, {"iterations": 2})
    second = [r for r in folder.records() if r.phase == 1 and r.meta["mode"] == "amplified"]
    assert second and all(r.meta["examples"] for r in second)  # the earlier phase's pairs reached the later one
    assert (tmp_path / "run" / "distilled-2.jsonl").read_text(encoding="utf-8")


def _show(run: Path, *args: str, env: dict[str, str]) -> str:
    result = oversight_in_process("show", str(run), *args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_show_finds_a_game_by_id_prefix_through_the_index(debate: Path, env: dict[str, str]) -> None:
    folder = RunFolder(debate)
    records = folder.records()
    target = records[150]
    prefix = next(p for n in range(1, 17) if sum(r.game_id.startswith(p := target.game_id[:n]) for r in records) == 1)
    assert f"game {target.game_id}" in _show(debate, prefix, env=env)
    index = json.loads(folder.index_path.read_text(encoding="utf-8"))
    assert index["games"][150] == target.game_id and index["log_size"] == folder.transcripts_path.stat().st_size

    shared = target.game_id[:1]
    many = sum(r.game_id.startswith(shared) for r in records)
    ambiguous = oversight_in_process("show", str(debate), shared, env=env)
    assert ambiguous.returncode == 2
    expected = f"oversight: error: {debate}: {shared!r} matches {many} games; give more of the id"
    assert ambiguous.stderr.strip() == expected
    missing = oversight_in_process("show", str(debate), "zz", env=env)
    assert missing.returncode == 2 and missing.stderr.strip() == f"oversight: error: {debate}: no game 'zz'"


def test_the_index_follows_a_log_that_grows_or_is_rewritten(tmp_path: Path, env: dict[str, str]) -> None:
    result = oversight("run", "debate", "--limit", "3", "--rounds", "1", "--out", "run", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run = tmp_path / "run"
    folder = RunFolder(run)
    lines = folder.transcripts_path.read_bytes().splitlines(keepends=True)
    first = folder.records()[0]

    # another writer appends a game (a run still playing): the index is stale and the new game is found
    added = first.model_copy(update={"game_id": "feedfacefeedface", "item_id": "appended"})
    added_line = added.model_dump_json().encode() + b"\n"
    with open(folder.transcripts_path, "ab") as handle:
        handle.write(added_line)
    assert "item appended" in _show(run, "feedface", env=env)

    # rewritten whole, as resuming does, here to the same size with every line moved: offsets are read afresh
    rewritten = tmp_path / "rewritten.jsonl"
    rewritten.write_bytes(b"".join([*reversed(lines), added_line]))
    os.replace(rewritten, folder.transcripts_path)
    assert f"game {first.game_id}" in _show(run, first.game_id, env=env)
    index = folder.index()
    assert index.offsets_of(games={first.game_id}) == [sum(len(line) for line in lines[:0:-1])]

    # a resume that drops a failed game rewrites the log; the run's own summary leaves a fresh index
    failed = first.model_copy(update={"game_id": "0badc0de0badc0de", "status": "failed", "error": "boom"})
    with open(folder.transcripts_path, "ab") as handle:
        handle.write(failed.model_dump_json().encode() + b"\n")
    assert "0badc0de0badc0de" in folder.index().games
    resumed = oversight("run", "debate", "--limit", "3", "--rounds", "1", "--out", "run", env=env, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    stored = json.loads(folder.index_path.read_text(encoding="utf-8"))
    assert "0badc0de0badc0de" not in stored["games"]
    assert stored["log_size"] == folder.transcripts_path.stat().st_size
    assert oversight_in_process("show", str(run), "0badc0de", env=env).returncode == 2


def _game_rows(text: str) -> list[str]:
    return re.findall(r"^(?:│ )?([0-9a-f]{16}) ", text, flags=re.MULTILINE)


def test_show_lists_the_first_200_games_and_says_how_many_it_left_out(debate: Path, env: dict[str, str]) -> None:
    ids = [r.game_id for r in RunFolder(debate).records()]
    capped = _show(debate, env=env)
    assert "accuracy [95% CI]" in capped  # the summary tables come first, whatever the cap
    assert _game_rows(capped) == ids[:200]
    assert "games (the first 200 of 202)" in capped
    assert "2 more games not listed (--games N lists N, --games all every game)" in capped

    assert _game_rows(_show(debate, "--games", "5", env=env)) == ids[:5]
    everything = _show(debate, "--games", "all", env=env)
    assert _game_rows(everything) == ids and "not listed" not in everything
    bad = oversight_in_process("show", str(debate), "--games", "some", env=env)
    assert bad.returncode == 2 and "'some' is neither a number of games nor 'all'" in bad.stderr


def _report(run: Path, out: Path, *args: str, env: dict[str, str]) -> str:
    result = oversight_in_process("report", str(run), "-o", str(out), *args, env=env)
    assert result.returncode == 0, result.stderr
    return out.read_text(encoding="utf-8")


def _shown_games(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<details class="game" id="game-([0-9a-f]+)" data-protocol="([a-z-]+)"', page)


def test_report_gives_transcripts_of_a_labelled_sample_spread_over_protocols(
    tournament: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    records = RunFolder(tournament).records()
    page = _report(tournament, tmp_path / "r.html", "--games", "8", env=env)
    shown = _shown_games(page)
    assert len(shown) == 8
    assert sorted(protocol for _, protocol in shown) == sorted(["blind", "consultancy", "debate", "open-debate"] * 2)
    assert "Transcripts of a sample of 8 of 39 games" in page
    assert '<span id="shown-count">8 games</span>' in page
    # the tables still count every game, and the sample is the same each time, in log order
    assert "<p>39 games: 39 complete" in page
    order = [r.game_id for r in records]
    assert [g for g, _ in shown] == sorted((g for g, _ in shown), key=order.index)
    assert _shown_games(_report(tournament, tmp_path / "again.html", "--games", "8", env=env)) == shown

    everything = _report(tournament, tmp_path / "all.html", "--games", "all", env=env)
    assert [g for g, _ in _shown_games(everything)] == order and "a sample of" not in everything
    default = _report(tournament, tmp_path / "default.html", env=env)  # 500 by default: all 39 games here
    assert len(_shown_games(default)) == 39 and "a sample of" not in default
