"""A protocol is one folder: a plug-in package with an entry point is listed, played, shown and reported by the
real CLI through the hooks of ``Protocol`` alone, and its run still reads back once the plug-in is gone."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import pytest

from oversight.metrics import metric_section
from oversight.records import RunSummary
from oversight.runfolder import RunFolder
from tests.conftest import oversight

TOY = '''"""A toy protocol: one guesser names one of the choices; right when it names the answer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel
from rich.console import RenderableType
from rich.text import Text

from oversight.metrics import ProtocolMetrics
from oversight.models.base import GenerationSettings
from oversight.protocol import GameContext, GameOutcome, GameSetup, Protocol
from oversight.records import GameRecord, Turn
from oversight.tasks.items import TaskItem
from oversight.views import ReportView, ViewNode, ViewTable


class GuessRow(BaseModel):
    #: what was guessed
    guess: str
    #: games in which it was guessed
    games: int


class ToyMetrics(ProtocolMetrics):
    schema_version: int = 2
    #: complete games
    games: int
    #: of those, games guessed right
    right: int
    #: a row per distinct guess
    guesses: list[GuessRow]


class Toy(Protocol):
    name: ClassVar[str] = "toy"
    roles: ClassVar[tuple[str, ...]] = ("guesser",)
    templates: ClassVar[tuple[str, ...]] = ("guess",)
    needs_choices: ClassVar[bool] = True
    description: ClassVar[str] = "toy guessing game"
    # the package ships its own templates: prompts/toy/guess.j2 beside this module
    prompts_folder: ClassVar[Path | None] = Path(__file__).parent / "prompts"

    def setups(
        self, task: str, items: Sequence[TaskItem], phase: int = 0, earlier: Sequence[GameRecord] = (), seed: int = 0
    ) -> Iterator[GameSetup]:
        for item in items:
            yield GameSetup(protocol=self.name, task=task, item=item)

    async def play(self, game: GameSetup, ctx: GameContext) -> GameOutcome:
        item = game.item
        variables = {"question": item.question, "choices": item.choices}
        reply = await ctx.generate("guesser", variables, template="guess", settings=GenerationSettings(max_tokens=10))
        guess = reply.text.strip()
        right = guess == item.choices[int(item.answer)]
        return GameOutcome(turns=[Turn(role="guesser", content=guess)], correct=right,
                           meta={"guess": guess, "note": "toy-meta-note"})

    def metrics(self, records: Iterable[GameRecord]) -> ToyMetrics:
        guesses: Counter[str] = Counter()
        right = 0
        for record in records:
            if record.status == "complete":
                guesses[record.meta["guess"]] += 1
                right += bool(record.correct)
        rows = [GuessRow(guess=guess, games=n) for guess, n in sorted(guesses.items())]
        return ToyMetrics(games=sum(guesses.values()), right=right, guesses=rows)

    @classmethod
    def terminal_view(cls, record: GameRecord) -> list[RenderableType]:
        return [Text(f"TOY VIEW: the guesser said {record.meta['guess']}")]

    @classmethod
    def report_view(cls, record: GameRecord) -> ReportView:
        node = ViewNode(text=f"toy node for {record.item_id}", value=record.meta["guess"], correct=record.correct)
        table = ViewTable(title="toy table", columns=["toy column"], rows=[[f"toy cell {record.item_id}"]])
        return ReportView(title="toy report view", tree=[node], tables=[table], shown_meta=frozenset({"guess"}))
'''

ITEMS = [
    {"id": "sky", "question": "What colour is the sky?", "choices": ["blue", "red"], "answer": 0},
    {"id": "fire", "question": "What colour is fire?", "choices": ["blue", "red"], "answer": 1},
    {"id": "sea", "question": "What colour is the sea?", "choices": ["green", "blue"], "answer": 1},
]


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    """``toyproto`` installed the way a wheel would leave it: the package beside its dist-info, on the path."""
    site = tmp_path / "site"
    (site / "toyproto").mkdir(parents=True)
    (site / "toyproto" / "__init__.py").write_text(TOY, encoding="utf-8")
    (site / "toyproto" / "prompts" / "toy").mkdir(parents=True)
    (site / "toyproto" / "prompts" / "toy" / "guess.j2").write_text(
        "{{ question }}\n{% for choice in choices %}- {{ choice }}\n{% endfor %}", encoding="utf-8"
    )
    info = site / "toyproto-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toyproto\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[oversight.protocols]\ntoy = toyproto:Toy\n", encoding="utf-8")
    return site


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "OVERSIGHT_", "PYTHONPATH"))}
    return {**clean, "OVERSIGHT_CACHE_DIR": str(tmp_path / "cache")}


def test_a_plugin_protocol_is_listed_played_shown_and_reported(
    plugin: Path, env: dict[str, str], tmp_path: Path
) -> None:
    with_plugin = {**env, "PYTHONPATH": str(plugin)}
    (tmp_path / "toy.jsonl").write_text("".join(json.dumps(item) + "\n" for item in ITEMS), encoding="utf-8")

    listed = oversight("protocols", env=with_plugin, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "toy guessing game" in listed.stdout and "guesser" in listed.stdout
    assert "toy" not in oversight("protocols", env=env, cwd=tmp_path).stdout

    played = oversight(
        "run", "toy", "--task", "toy.jsonl", "--model", "scripted/constant?text=blue", "--out", "run",
        env=with_plugin, cwd=tmp_path,
    )  # fmt: skip
    assert played.returncode == 0, played.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))
    # "blue" is right for the sky and the sea, wrong for fire
    assert summary["metrics"]["toy"] == {"schema_version": 2, "games": 3, "right": 2,
                                         "guesses": [{"guess": "blue", "games": 3}]}
    assert summary["by_protocol"]["toy"]["correct"] == 2

    shown = oversight("show", "run", env=with_plugin, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "toy metrics" in shown.stdout and "right" in shown.stdout and "guesses" in shown.stdout
    game = next(r for r in RunFolder(tmp_path / "run").records() if r.item_id == "fire")
    one = oversight("show", "run", game.game_id, env=with_plugin, cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    assert "TOY VIEW: the guesser said blue" in one.stdout

    reported = oversight("report", "run", "--games", "all", env=with_plugin, cwd=tmp_path)
    assert reported.returncode == 0, reported.stderr
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "<h3>toy metrics</h3>" in page and "<h4>toy · guesses</h4>" in page and "<td>right</td><td>2</td>" in page
    assert "toy report view" in page and "toy node for fire" in page and "toy cell fire" in page
    # the view shows the guess, so the game details keep only the rest of the record's meta
    assert "toy-meta-note" in page and '"guess": "blue"' not in html.unescape(page)


def test_a_run_of_a_protocol_no_longer_installed_still_reads(
    plugin: Path, env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "prompts" / "toy").mkdir(parents=True)
    (tmp_path / "prompts" / "toy" / "guess.j2").write_text("{{ question }}", encoding="utf-8")
    (tmp_path / "toy.jsonl").write_text(json.dumps(ITEMS[0]) + "\n", encoding="utf-8")
    played = oversight(
        "run", "toy", "--task", "toy.jsonl", "--model", "scripted/constant?text=blue", "--prompts", "prompts",
        "--out", "run", env={**env, "PYTHONPATH": str(plugin)}, cwd=tmp_path,
    )  # fmt: skip
    assert played.returncode == 0, played.stderr

    # without the plug-in: the stored figures still load and show; the game falls back to its turns and meta
    assert RunFolder(tmp_path / "run").read_summary() is not None
    shown = oversight("show", "run", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "toy metrics" in shown.stdout and "guesses" in shown.stdout
    game = RunFolder(tmp_path / "run").records()[0]
    one = oversight("show", "run", game.game_id, env=env, cwd=tmp_path)
    assert one.returncode == 0 and "TOY VIEW" not in one.stdout and "blue" in one.stdout
    reported = oversight("report", "run", env=env, cwd=tmp_path)
    assert reported.returncode == 0, reported.stderr
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "<h3>toy metrics</h3>" in page and "toy report view" not in page and '"guess": "blue"' in html.unescape(page)


def test_stored_metrics_are_laid_out_as_scalars_row_tables_and_json() -> None:
    summary = RunSummary.model_validate({
        "run_id": "r", "games": 1, "complete": 1, "failed": 0, "pending": 0, "accuracy": None,
        "accuracy_ci95": None, "by_protocol": {}, "usage_by_role": {}, "usage_by_model": {},
        "metrics": {"gone": {"schema_version": 4, "games": 2, "rate": 0.5,
                             "by_seat": [{"seat": "A", "wins": 1}, {"seat": "B", "ties": 0}],
                             "histogram": {"1": 2}, "empty": []}},
    })  # fmt: skip
    section = metric_section("gone", summary.metrics["gone"])
    assert section.scalars == [("games", 2), ("rate", 0.5)]
    [table] = section.tables
    assert (table.title, table.columns, table.rows) == (
        "gone · by seat", ["seat", "wins", "ties"], [["A", 1, None], ["B", None, 0]]
    )
    assert section.other == {"histogram": {"1": 2}}

