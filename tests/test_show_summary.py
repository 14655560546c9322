"""How ``oversight show`` and ``oversight report`` lay out a run: protocols in their own order, every table titled
with its protocol, figures by their human names (summary.json keeps the keys), intervals never wrapped, a headline
per protocol, seats named apart from answers, probabilities labelled by their source, and how a run ends."""

from __future__ import annotations

import asyncio
import html
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from oversight.display import in_display_order, probability_label, seat_name, stated_beside_logprobs
from oversight.judges import JudgeTurn, JudgeView
from oversight.judges.human import HumanJudge
from oversight.protocol import PROTOCOLS
from oversight.records import GameRecord, Turn, Verdict
from oversight.show import Screen, Sheet, print_game

from .conftest import oversight_in_process, scripted_tournament

ROOT = Path(__file__).resolve().parents[1]
#: the debate family in the order the summary shows it, whatever order a config lists it in
FAMILY = ["blind", "consultancy", "open-consultancy", "debate", "open-debate", "interactive-debate", "expert"]
CONFIG = scripted_tournament("every-debate-protocol", 2, ["expert", "interactive-debate", "debate", "open-debate",
                                                         "consultancy", "open-consultancy", "blind"],
                             {"careful-reader": "scripted/judge"})
#: a percentage interval as show writes it, and the start of one that a line would have cut
INTERVAL = re.compile(r"\[\d+\.\d%, \d+\.\d%\]")
CUT_INTERVAL = re.compile(r"\[\d+\.\d%,?\s*$")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder with a scripted tournament of every debate-family protocol (``all``), an ``ida`` run and an ``elk``
    run, each played once for the module."""
    folder = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("OVERSIGHT_CACHE_DIR", str(folder / "cache"))
        patch.setenv("OVERSIGHT_MODEL", "scripted/auto")
        (folder / "all.toml").write_text(CONFIG, encoding="utf-8")
        for command in (("tournament", "all.toml", "--out", "all"), ("run", "ida", "--limit", "2", "--out", "ida"),
                        ("run", "elk", "--limit", "1", "--out", "elk")):
            played = oversight_in_process(*command)
            assert played.returncode == 0, played.stderr
        yield folder


def _show(run: Path, *args: str, columns: int | None = None) -> str:
    shown = oversight_in_process("show", str(run), *args, env={"COLUMNS": str(columns)} if columns else None)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def _titles(text: str, suffix: str) -> list[str]:
    titles = [line.removesuffix(suffix) for line in text.splitlines() if line.endswith(suffix)]
    return [title for title in titles if " " not in title]


# -- 1. one table per protocol, in the protocols' own order ---------------------------------------------------
def test_protocols_come_in_their_own_order_then_the_others_by_name() -> None:
    assert in_display_order([*PROTOCOLS.names(), "aardvark"]) == [*FAMILY, "aardvark", "elk", "ida"]
    assert in_display_order(["ida/direct", "elk", "ida/amplified", "debate"]) == [
        "debate", "elk", "ida/amplified", "ida/direct"
    ]


def test_the_order_comes_from_the_protocols_not_from_the_engine() -> None:
    for module in ("display.py", "show.py", "report.py", "metrics.py"):
        source = (ROOT / "oversight" / module).read_text(encoding="utf-8")
        named = [name for name in PROTOCOLS.names() if f'"{name}"' in source or f"'{name}'" in source]
        assert not named, f"oversight/{module} names {named}"


def test_show_gives_each_protocol_its_table_in_order_each_titled_with_it(runs: Path) -> None:
    shown = _show(runs / "all")
    assert _titles(shown, " metrics") == FAMILY
    headline = shown.split("each protocol's headline", 1)[1].split("blind metrics", 1)[0]
    assert [line.split()[0] for line in headline.splitlines()[3:] if line.strip()] == FAMILY
    for figure in ("win rate by seat", "judge accuracy by branch"):
        lines = [line for line in shown.splitlines() if line.endswith(figure)]
        assert lines and all(line.removesuffix(f" · {figure}") in FAMILY for line in lines), lines
    # each protocol's tables come together, under its own
    order = [line.partition(" ")[0] for line in shown.splitlines() if line.split(" ")[0] in FAMILY and " · " in line]
    assert order == sorted(order, key=FAMILY.index)


# -- 2. human names on screen and page, raw keys in JSON ----------------------------------------------------------
def test_figures_go_by_human_names_and_the_json_keeps_their_keys(runs: Path) -> None:
    shown = _show(runs / "all")
    assert "calibration error (ECE, 10 bins)" in shown and "verdicts with probabilities" in shown
    assert "ece_10_bins" not in shown and "with_probabilities" not in shown
    as_json = _show(runs / "all", "--json")
    assert json.loads(as_json) == json.loads((runs / "all" / "summary.json").read_text(encoding="utf-8"))
    assert "ece_10_bins" in json.loads(as_json)["metrics"]["debate"]
    assert oversight_in_process("show", str(runs / "all"), "x", "--json").returncode == 2
    assert oversight_in_process("report", str(runs / "all")).returncode == 0
    page = (runs / "all" / "report.html").read_text(encoding="utf-8")
    assert "<td>calibration error (ECE, 10 bins)</td>" in page and "<td>ece_10_bins</td>" not in page
    assert "<h4>debate · win rate by seat</h4>" in page


# -- 3. intervals never wrap --------------------------------------------------------------------------------------
@pytest.mark.parametrize("columns", [None, 40, 60, 200])
def test_every_interval_is_whole_on_one_line_at_any_width(runs: Path, columns: int | None) -> None:
    summary = json.loads((runs / "all" / "summary.json").read_text(encoding="utf-8"))
    shown = _show(runs / "all", "--games", "0", columns=columns)
    lines = shown.splitlines()
    assert not [line for line in lines if CUT_INTERVAL.search(line)]
    for name, figures in summary["by_protocol"].items():
        ci = figures["accuracy_ci95"]
        whole = f"{figures['accuracy']:.1%} [{ci['low']:.1%}, {ci['high']:.1%}]"
        assert any(whole in line for line in lines), (name, whole)
    if columns:  # a width to fit: no line of a table is wider
        assert all(len(line) <= columns for line in lines if "│" in line or "━" in line)
    else:  # piped: a plain layout, one line per row
        assert "┃" not in shown and "│" not in shown
        assert len([line for line in lines if INTERVAL.search(line)]) >= 2 * len(summary["by_protocol"])


def test_a_narrow_screen_lays_a_table_out_as_lines_that_keep_each_interval_whole() -> None:
    out = io.StringIO()
    sheet = Sheet("a protocol with a long name · judge accuracy by difficulty",
                  ["difficulty", "scored", "judge accuracy [95% CI]"],
                  [["very hard", "240", "100.0% [98.4%, 100.0%]"], ["easy", "3", "0.0% [0.0%, 56.1%]"]])
    Screen(Console(file=out, width=30, highlight=False), plain=False).sheet(sheet)
    lines = out.getvalue().splitlines()
    assert "    judge accuracy [95% CI]: 100.0% [98.4%, 100.0%]" in lines
    assert "    judge accuracy [95% CI]: 0.0% [0.0%, 56.1%]" in lines
    assert not [line for line in lines if CUT_INTERVAL.search(line)]


# -- 4. and 5. a headline per protocol, titled by what it measures --------------------------------------------------
def test_the_report_headline_is_per_protocol_never_pooled(runs: Path) -> None:
    assert oversight_in_process("report", str(runs / "all")).returncode == 0
    page = (runs / "all" / "report.html").read_text(encoding="utf-8")
    headline = page.split('<ul id="headlines">', 1)[1].split("</ul>", 1)[0]
    items = re.findall(r"<li><strong>([^<]+)</strong>: judge accuracy \d", headline)
    assert items == FAMILY
    assert "Judge accuracy" not in page.split('<section id="summary">', 1)[1].split("</table>", 1)[0]


@pytest.mark.parametrize(("run", "groups", "label"), [
    ("ida", ["ida/amplified", "ida/direct"], "answer accuracy"),
    ("elk", ["elk"], "builder survival"),
])
def test_each_protocol_titles_its_headline_by_what_it_measures(
    runs: Path, run: str, groups: list[str], label: str
) -> None:
    shown = _show(runs / run)
    assert f"{label} [95% CI]" in shown and "judge accuracy" not in shown
    assert oversight_in_process("report", str(runs / run)).returncode == 0
    page = (runs / run / "report.html").read_text(encoding="utf-8")
    assert re.findall(rf"<li><strong>([^<]+)</strong>: {label} \d", page) == groups
    if run == "elk":  # elk's games have no verdict to score: the headline is the builder's survival, with its interval
        assert re.search(r"^elk\s+1\s+0\s+\d+\.\d% \[\d+\.\d%, \d+\.\d%\]$", shown, re.MULTILINE)


# -- 6. seats cannot be mistaken for answers ------------------------------------------------------------------
def test_seats_are_named_apart_from_the_lettered_answers(runs: Path) -> None:
    assert [seat_name("debate", seat) for seat in "ABC"] == ["Debater 1", "Debater 2", "Debater 3"]
    assert seat_name("consultancy", "consultant") == "Consultant"
    assert seat_name("a-protocol-no-longer-installed", "A") == "seat A"
    shown = _show(runs / "all", "--games", "all")
    assert "Debater 1 defends" in shown and "Debater 2 defends" in shown and "Consultant defends" in shown
    assert not re.search(r"\b[A-D]:[A-D]\b", shown)
    assert "debate · win rate by seat" in shown and re.search(r"Debater 1 +\d+ +\d", shown)
    lines = (runs / "all" / "transcripts.jsonl").read_text(encoding="utf-8").splitlines()
    record = next(r for r in map(json.loads, lines) if r["protocol"] == "debate")
    one = _show(runs / "all", record["game_id"])
    assert re.search(r"Debater [12] · round 1 · defends [AB]", one) and "seat A" not in one
    page = (runs / "all" / "report.html").read_text(encoding="utf-8")
    assert "defended by Debater 1" in page and "· seat A" not in page and ">A</span>:" not in page
    # what is stored stays as it was
    assert set(record["seating"]) <= {"A", "B", "consultant"}


def test_the_human_judge_sees_debaters_by_number() -> None:
    out = io.StringIO()
    judge = HumanJudge(stdin=io.StringIO("B\n\n"), console=Console(file=out, width=100))
    view = JudgeView(
        protocol="debate", question="Where did the map go?", choices=["the boathouse", "the attic"], labels=["A", "B"],
        turns=[JudgeTurn(speaker="Debater A", seat="A", round=1, defends=1, content="the attic"),
               JudgeTurn(speaker="Debater B", seat="B", round=1, defends=0, content="the boathouse")],
    )
    verdict = asyncio.run(judge.decide(view, None))  # type: ignore[arg-type]
    assert verdict.choice == 1
    shown = out.getvalue()
    assert "Debater 1 · round 1 · defends B" in shown and "Debater 2 · round 1 · defends A" in shown
    assert "Debater A" not in shown


# -- 7. stated confidence and logprob probability are labelled as what they are ------------------------------------
def _record(verdict: Verdict) -> GameRecord:
    now = datetime.now(UTC)
    return GameRecord(
        game_id="0123456789abcdef", protocol="debate", task="t", item_id="i", status="complete",
        roles={"judge": "scripted/judge"}, question="q?", choices=["x", "y"], answer=1, seating={"A": 1, "B": 0},
        turns=[Turn(role="judge", content=verdict.raw, meta={"kind": "verdict"})], verdict=verdict, correct=True,
        started_at=now, finished_at=now,
    )


def test_a_stated_confidence_is_never_passed_off_as_the_logprob_probability(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logprobs = Verdict(choice=1, probabilities=[0.432, 0.568], source="logprobs", raw="Answer: B\nConfidence: 100%")
    stated = Verdict(choice=1, probabilities=[0.3, 0.7], source="stated", raw="Answer: B\nConfidence: 70%")
    assert stated_beside_logprobs(logprobs) == 1.0 and stated_beside_logprobs(stated) is None
    assert probability_label("logprobs") == "probability from the answer token's logprobs"
    assert probability_label("stated").startswith("the judge's stated confidence")
    print_game(_record(logprobs))
    shown = capsys.readouterr().out
    assert "probability from the answer token's logprobs: A 43%, B 57%" in shown
    assert "stated confidence in the judge's reply: 100%" in shown


def test_the_report_labels_both_beside_each_verdict(runs: Path) -> None:
    assert oversight_in_process("report", str(runs / "all")).returncode == 0
    page = html.unescape((runs / "all" / "report.html").read_text(encoding="utf-8"))
    assert re.search(r"stated confidence in the judge's reply: \d+\.\d%", page)
    assert "probability from the answer token's logprobs:" in page
    assert "probabilities (logprobs)" not in page


# -- 8. how a run ends ------------------------------------------------------------------------------------------
def test_a_finished_run_ends_with_the_commands_to_look_at_it_and_a_rerun_says_nothing_was_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OVERSIGHT_CACHE_DIR", str(tmp_path / "cache"))
    command = ("run", "debate", "--model", "scripted/auto", "--limit", "2", "--out", "my run")
    first = oversight_in_process(*command)
    assert first.returncode == 0, first.stderr
    hint = ["see it with:", "  oversight show 'my run'", "  oversight report 'my run'"]
    assert first.stdout.splitlines()[-3:] == hint
    assert "nothing left to play" not in first.stdout
    again = oversight_in_process(*command)
    assert again.returncode == 0, again.stderr
    games = json.loads((tmp_path / "my run" / "summary.json").read_text(encoding="utf-8"))["games"]
    assert f"nothing left to play: all {games} games are already in my run" in again.stdout.splitlines()
    assert again.stdout.splitlines()[-2:] == ["  oversight show 'my run'", "  oversight report 'my run'"]
