"""The pages that watch run folders (oversight/web/watch.py), served from real runs of scripted players: the list
of runs, a run's figures (those of its summary.json), its games a page at a time, a growing log read from where it
stopped, a live run told by its lock, no path outside the served folders, and model and task text as text."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
from markupsafe import escape
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from oversight.display import metric_sections
from oversight.records import GameRecord, RunSummary
from oversight.runfolder import RunFolder
from oversight.runlock import RunLock
from oversight.views import cell
from oversight.web import watch
from oversight.web.app import create_app
from oversight.web.watch import watch_routes

from .conftest import oversight_in_process

SCRIPT = "<script>alert(1)</script>"
#: a debater whose every turn is markup and script
ATTACKER = "scripted/constant?text=" + quote(f"{SCRIPT} <img src=x onerror=alert(2)>", safe="")
#: a task whose text is markup too
ITEM, QUESTION, CHOICE = "<i>item</i>", "<img src=x onerror=alert(3)> Which box?", "<b>the red box</b>"
SUMMARY_COLUMNS = ["protocol", "games", "complete", "failed", "correct", "wrong", "invalid verdicts",
                   "belief≠answer", "measure", "result", "95% CI"]  # fmt: skip


class Page(HTMLParser):
    """What the tests read from a page: its tables as rows of cell texts, its links and image sources, its tags."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.links: list[str] = []
        self.images: list[str] = []
        self.tags: set[str] = set()
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.add(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
            self.tables[-1].append(self._row)
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "a":
            self.links.append(values.get("href") or "")
        elif tag == "img":
            self.images.append(values.get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def table(self, *header: str) -> list[list[str]]:
        """The rows of the table whose header row starts with ``header``."""
        found = [rows for rows in self.tables if rows and rows[0][: len(header)] == list(header)]
        assert found, f"no table headed {header}"
        return found[0][1:]


def client(roots: list[Path]) -> TestClient:
    """The watch pages alone, mounted where the app mounts them."""
    return TestClient(Starlette(routes=[Mount("/runs", routes=watch_routes(roots))]))


def get(web: TestClient, path: str) -> str:
    response = web.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.text


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder of two finished runs: a debate between scripted players, and one whose task and one debater write
    markup and script."""
    where = tmp_path_factory.mktemp("watch")
    root = where / "results"
    task = where / "attack.jsonl"
    item = {"id": ITEM, "question": QUESTION, "choices": [CHOICE, "the blue box"], "answer": 1,
            "passage": "It is in the blue box."}  # fmt: skip
    task.write_text(json.dumps(item) + "\n", encoding="utf-8")
    env = {"OVERSIGHT_CACHE_DIR": str(where / "cache"), "OVERSIGHT_MODEL": "scripted/auto"}
    for name, *args in (
        ("debate", "--limit", "4"),
        ("attacked", "--task", str(task), "--role", "debater_a=scripted/debater", "--role", f"debater_b={ATTACKER}"),
    ):
        result = oversight_in_process("run", "debate", "--model", "scripted/auto", "--rounds", "1", *args,
                                      "--out", str(root / name), env=env)  # fmt: skip
        assert result.returncode == 0, result.stderr
    yield root


def copy_run(runs: Path, name: str, to: Path) -> RunFolder:
    shutil.copytree(runs / name, to)
    return RunFolder(to)


def summary_rows(summary: RunSummary) -> list[list[str]]:
    """The run page's summary table as summary.json's figures make it (the debate family's headline is judge
    accuracy)."""
    return [
        [group, str(p.games), str(p.complete), str(p.failed), str(p.correct), str(p.wrong), str(p.invalid_verdicts),
         str(p.belief_disagrees), "judge accuracy", f"{p.accuracy:.1%}",
         f"{p.accuracy_ci95.low:.1%}–{p.accuracy_ci95.high:.1%}" if p.accuracy_ci95 else "-"]
        for group, p in summary.by_protocol.items()
    ]  # fmt: skip


def test_the_list_names_every_run_with_its_games_and_status(runs: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(runs, root)
    # listed from its small files: a log that cannot even be opened does not matter
    unopened = copy_run(runs, "debate", root / "unopened")
    unopened.transcripts_path.unlink()
    unopened.transcripts_path.mkdir()
    # killed while it played: its manifest says running and counts no games, its index still matches its log
    crashed = copy_run(runs, "debate", root / "crashed")
    manifest = crashed.read_manifest()
    crashed.write_manifest(manifest.model_copy(update={"status": "running", "games": None, "ended_at": None}))
    crashed.summary_path.unlink()
    web = client([root])
    page = Page(get(web, "/runs/"))
    rows = {row[0]: row for row in page.table("run", "protocols", "games done", "planned", "status")}
    assert set(rows) == {"debate", "attacked", "unopened", "crashed"}
    assert rows["debate"][1:5] == ["debate", "8", "8", "complete"]
    assert rows["unopened"][1:5] == ["debate", "8", "8", "complete"]
    assert rows["crashed"][1:5] == ["debate", "8", "-", "incomplete"]
    assert rows["attacked"][1:5] == ["debate", "2", "2", "complete"]
    assert {"/runs/debate/", "/runs/attacked/", "/runs/unopened/"} <= set(page.links)
    assert "/runs/" in get(web, "/runs/debate/")

    # a root that is itself a run folder is listed by its own name
    alone = Page(get(client([root / "debate"]), "/runs/"))
    assert [row[0] for row in alone.table("run", "protocols")] == ["debate"]


def test_a_run_page_shows_the_figures_of_its_summary_and_links_every_game(runs: Path) -> None:
    web = client([runs])
    html = get(web, "/runs/debate/")
    page = Page(html)
    folder = RunFolder(runs / "debate")
    summary = folder.read_summary()
    assert summary is not None
    assert page.table(*SUMMARY_COLUMNS) == summary_rows(summary)
    assert "8 games: 8 complete, 0 failed, 0 not played yet." in html
    for section in metric_sections(summary):
        for title, value in section.scalars:
            assert f"<tr><td>{escape(title)}</td><td>{cell(value)}</td></tr>" in html
    assert "8 games finished of 8 planned" in html and "complete" in html
    assert 'http-equiv="refresh"' not in html and "counted-from-log" not in html

    # every game links to its transcript, in log order
    games = [record.game_id for record in folder.iter_records()]
    assert [row[0] for row in page.table("game", "protocol")] == games
    assert [link for link in page.links if "/games/" in link] == [f"/runs/debate/games/{g}" for g in games]

    # the plots are images of the page's own, served as SVG: the app's policy allows no inline styles or scripts
    assert page.images and all(src.startswith("/runs/debate/plots/") for src in page.images)
    for src in page.images:
        image = web.get(src)
        assert image.status_code == 200 and image.headers["content-type"] == "image/svg+xml"
        assert "<svg" in image.text
    assert not page.tags & {"script", "style", "svg", "iframe", "object", "embed"} and " style=" not in html
    css = web.get("/runs/report.css")
    assert css.headers["content-type"].startswith("text/css") and ".turn-body" in css.text


def test_games_are_listed_a_page_at_a_time(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch, "SHOWN_GAMES", 3)
    web = client([runs])
    games = [record.game_id for record in RunFolder(runs / "debate").iter_records()]

    def listed(query: str) -> list[str]:
        return [row[0] for row in Page(get(web, f"/runs/debate/{query}")).table("game", "protocol")]

    assert listed("") == games[:3]
    assert listed("?page=2") == games[3:6]
    assert listed("?page=3") == listed("?page=99") == games[6:]
    assert listed("?page=nonsense") == games[:3]
    assert "page 2 of 3" in get(web, "/runs/debate/?page=2")


def test_a_game_page_shows_that_games_turns_and_verdict(runs: Path) -> None:
    web = client([runs])
    record = next(RunFolder(runs / "debate").iter_records())
    html = get(web, f"/runs/debate/games/{record.game_id}")
    assert f'id="game-{record.game_id}"' in html and '<details class="game" open' in html
    assert str(escape(record.question)) in html
    for choice in record.choices:
        assert str(escape(choice)) in html
    assert record.turns
    for turn in record.turns:
        # a turn's text, split at its marked quotes
        for part in turn.meta.get("shown", turn.content).replace("<quote verified>", "\0").replace(
            "<quote unverified>", "\0").replace("</quote>", "\0").split("\0"):  # fmt: skip
            assert str(escape(part)) in html
    assert "verdict:" in html
    assert 'href="/runs/debate/"' in html


def test_a_growing_log_is_read_from_where_it_stopped(runs: Path, tmp_path: Path) -> None:
    folder = copy_run(runs, "debate", tmp_path / "root" / "grow")
    summary = folder.read_summary()
    assert summary is not None
    lines = folder.transcripts_path.read_bytes().splitlines(keepends=True)
    folder.transcripts_path.write_bytes(b"".join(lines[:3]))
    web = client([tmp_path / "root"])
    assert "3 games finished of 8 planned" in get(web, "/runs/grow/")

    # a line still being written is not a game yet
    with open(folder.transcripts_path, "ab") as log:
        log.write(lines[3][:-20])
    assert "3 games finished of 8 planned" in get(web, "/runs/grow/")

    # only what was appended is read: a game read before, since unscored in place, still counts as it was
    seen = next(n for n, line in enumerate(lines[:3]) if b'"correct":true,' in line)
    with open(folder.transcripts_path, "r+b") as log:
        log.seek(sum(map(len, lines[:seen])))
        log.write(lines[seen].replace(b'"correct":true,', b'"correct":null,'))
    with open(folder.transcripts_path, "ab") as log:
        log.write(lines[3][-20:] + b"".join(lines[4:]))
    html = get(web, "/runs/grow/")
    page = Page(html)
    assert "8 games finished of 8 planned" in html and "oversight repair" not in html
    # counted from the log, as the log is newer than the summary: the same figures
    assert "counted-from-log" in html
    assert page.table(*SUMMARY_COLUMNS) == summary_rows(summary)
    last = GameRecord.model_validate_json(lines[-1])
    assert [row[0] for row in page.table("game", "protocol")][-1] == last.game_id
    assert str(escape(last.question)) in get(web, f"/runs/grow/games/{last.game_id}")

    # a log replaced by another file (a resume that drops failed games) is read again from its start
    replacement = folder.path / "replacement.jsonl"
    replacement.write_bytes(b"".join(lines[:2]))
    os.replace(replacement, folder.transcripts_path)
    assert "2 games finished of 8 planned" in get(web, "/runs/grow/")
    assert web.get(f"/runs/grow/games/{last.game_id}").status_code == 404

    # a whole line that is not a game stops the reading, and the page says how to repair the log
    with open(folder.transcripts_path, "ab") as log:
        log.write(b'{"not": "a game"}\n')
    html = get(web, "/runs/grow/")
    assert "2 games finished" in html and f"oversight repair {folder.path}" in html


def test_a_run_plays_while_a_live_process_holds_its_lock_or_its_log_grows(runs: Path, tmp_path: Path) -> None:
    folder = copy_run(runs, "debate", tmp_path / "root" / "live")
    # as a run's manifest is while it plays: running, its count of games not yet written
    manifest = folder.read_manifest()
    folder.write_manifest(manifest.model_copy(update={"status": "running", "games": None, "ended_at": None}))
    web = client([tmp_path / "root"])

    def status() -> str:
        return Page(get(web, "/runs/")).table("run", "protocols", "games done", "planned", "status")[0][4]

    # running, by its word, but held by no process: it died (kill -9); what a first look reads is not growth
    assert status() == "incomplete"
    assert "no process is playing it" in get(web, "/runs/live/")
    with RunLock.acquire(folder.path):
        assert status() == "playing"
        html = get(web, "/runs/live/")
        assert '<meta http-equiv="refresh" content="5">' in html
        assert f"held by pid {os.getpid()}" in html and "8 games finished of 8 planned" in html
    assert status() == "incomplete"
    html = get(web, "/runs/live/")
    assert "http-equiv" not in html and "no process is playing it" in html

    # a run that says it is running and whose log grows is playing, lock or not, until the log stops growing
    record = next(folder.iter_records())
    with open(folder.transcripts_path, "a", encoding="utf-8") as log:
        log.write(record.model_copy(update={"game_id": "feedfacefeedface"}).model_dump_json() + "\n")
    assert status() == "playing"
    assert status() == "incomplete"
    assert "9 games finished" in get(web, "/runs/live/")


def test_only_run_folders_inside_the_roots_are_served(runs: Path, tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    copy_run(runs, "debate", root / "inside")
    copy_run(runs, "debate", outside)
    (root / "elsewhere").symlink_to(outside)  # a run folder outside the roots
    leaky = copy_run(runs, "debate", root / "leaky")  # a run folder whose log is outside
    leaky.transcripts_path.unlink()
    leaky.transcripts_path.symlink_to(outside / "transcripts.jsonl")
    web = client([root])
    game = next(RunFolder(outside).iter_records()).game_id

    page = Page(get(web, "/runs/"))
    assert [row[0] for row in page.table("run", "protocols")] == ["inside"]
    assert get(web, f"/runs/inside/games/{game}")
    for path in (
        "/runs/elsewhere/", f"/runs/elsewhere/games/{game}", "/runs/leaky/", "/runs/nope/", "/runs/%2e%2e/",
        "/runs/..%2Foutside/", "/runs/%2e%2e/outside/", f"/runs/{quote(str(outside), safe='')}/",
        f"/runs/{quote(str(root / 'inside'), safe='')}/", "/runs/inside/games/nope", "/runs/inside/plots/nope.svg",
        "/runs/inside/plots/..%2F..%2Frun.json", "/runs/inside/games/..%2F..%2Frun.json",
    ):  # fmt: skip
        assert web.get(path).status_code == 404, path


def test_model_and_task_text_is_shown_as_text(runs: Path) -> None:
    web = client([runs])
    record = next(r for r in RunFolder(runs / "attacked").iter_records() if r.turns)
    game = get(web, f"/runs/attacked/games/{record.game_id}")
    listing = get(web, "/runs/attacked/")
    for html in (game, listing, get(web, "/runs/")):
        assert SCRIPT not in html and "<img src=x" not in html and "<b>" not in html and "<i>" not in html
        page = Page(html)
        assert not page.tags & {"script", "b", "i", "style", "iframe", "object", "embed"}
        assert all(src.startswith("/runs/attacked/plots/") for src in page.images)
    assert str(escape(SCRIPT)) in game
    assert str(escape(QUESTION)) in game and str(escape(CHOICE)) in game
    assert str(escape(ITEM)) in listing


def test_the_app_serves_the_watch_pages_under_its_guard(runs: Path) -> None:
    web = TestClient(create_app(roots=[runs]))
    response = web.get("/runs/debate/")
    assert response.status_code == 200
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    page = Page(response.text)
    assert page.table(*SUMMARY_COLUMNS)
    assert web.get(page.images[0]).headers["content-type"] == "image/svg+xml"
    assert "debate" in get(web, "/runs/")
    assert web.get("/runs/%2e%2e/").status_code == 404
