"""What a reader sees of an ELK game: the rounds of a real scripted run in ``oversight show RUN GAME_ID`` and in
``oversight report``'s table — each proposal's recipe and its test-set AUROC beside the references', the
counterexample's episodes, the trial's verdict, the attached reporter's score and the rulings — with the figures
the record holds, and model text shown as text, never as markup."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from oversight.protocols.elk.plots import elk_plots
from oversight.protocols.elk.records import Counterexample, ElkGame, ElkRound, Ruling
from oversight.protocols.elk.trials import Evaluation, RecipeResult
from oversight.protocols.elk.views import elk_rounds, rounds_view
from rich.console import Console

from oversight.records import GameRecord
from oversight.runfolder import RunFolder
from oversight.views import ReportView
from tests.conftest import oversight, oversight_in_process
from tests.test_report import Dom

#: builder, breaker and judge scripted; the builder attaches the sensor-reading rule, so every round scores it
MODEL = "scripted/elk?reporter=reads-sensors"
SCRIPT = "<script>alert('elk')</script>"
#: rich markup that would colour, link or hide text if it were read as markup
MARKUP = "[bold red]boom[/bold red] [link=https://example.com]click[/link]"
EVIL = f"{SCRIPT} {MARKUP}"
VERDICTS = {True: "valid", False: "invalid", None: "unreadable"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real scripted run over the three built-in scenarios, up to six rounds each."""
    where = tmp_path_factory.mktemp("elk-views")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["OVERSIGHT_CACHE_DIR"] = str(where / "cache")
    result = oversight(
        "run", "elk", "--task", "elk-scenarios", "--model", MODEL, "--rounds", "6", "--out", "run", env=env, cwd=where
    )
    assert result.returncode == 0, result.stderr
    return where / "run"


@pytest.fixture(scope="module")
def records(run: Path) -> list[GameRecord]:
    return RunFolder(run).records()


def _game(record: GameRecord) -> ElkGame:
    return ElkGame.model_validate(record.meta)


def _plain(renderable: Any) -> str:
    """What the terminal shows of a renderable, laid out wide enough that nothing wraps, whitespace and panel
    borders folded to single spaces."""
    out = io.StringIO()
    Console(file=out, width=1000, highlight=False).print(renderable)
    return " ".join(out.getvalue().replace("│", " ").split())


def _auroc(e: Evaluation) -> str:
    assert e.auroc is not None and e.auroc_interval is not None
    return f"{e.auroc:.3f} (95% {e.auroc_interval.low:.3f}–{e.auroc_interval.high:.3f})"


def _counts(e: Evaluation) -> str:
    return f"detected {e.detected}/{e.fake_positives} fake positives, passed {e.passed}/{e.real_positives} real ones"


def _reference(result: RecipeResult, name: str) -> Evaluation:
    return next(e for e in result.references if e.reporter == name)


def _ruling(ruling: Ruling, by: bool = True) -> str:
    return VERDICTS[ruling.valid] + (f" ({ruling.by})" if by else "") + f": {ruling.reason}"


def _expected_panel(r: ElkRound) -> list[str]:
    """What a round's panel must say, built from the record's own figures."""
    assert r.recipe_result and r.recipe_result.builder and r.counterexample and r.counterexample.actions
    assert r.trial and r.trial.builder and r.reporter_score and r.ruling and r.judge_ruling
    result, trial = r.recipe_result, r.trial
    fakes = "fake positive" if trial.fake_positives == 1 else "fake positives"
    return [
        f"round {r.round}",
        f"strategy {r.proposal.strategy}",
        f"recipe {r.proposal.recipe}",
        f"test set recipe's reporter: AUROC {_auroc(result.builder)} · {_counts(result.builder)}",
        f"truth probe: AUROC {_auroc(_reference(result, 'truth-probe'))}",
        f"human simulator: AUROC {_auroc(_reference(result, 'human-simulator'))}",
        f"counterexample {r.counterexample.story}",
        f"attached family: {' → '.join(r.counterexample.actions)}",
        f"trial {VERDICTS[trial.valid]} · {trial.drawn} drawn, {trial.episodes} valid, {trial.fake_positives} {fakes}",
        f"recipe's reporter: {_counts(trial.builder)} · AUROC {_auroc(trial.builder)}",
        f"reporter score reads-sensors (reference rule): {_counts(r.reporter_score)}",
        f"ruling {_ruling(r.ruling)}",
        f"judge's ruling {_ruling(r.judge_ruling, by=False)}",
    ]


def test_the_run_settles_every_round_by_execution(records: list[GameRecord]) -> None:
    """The shared run exercises what the views show: a recipe, its test-set scores, a family trial, an attached
    reporter's score and both rulings in every round, and at least once a judge who disagrees with execution."""
    rounds = [r for record in records for r in _game(record).rounds]
    assert {record.item_id for record in records} == {"smartvault", "cold-chain", "patch-review"}
    for r in rounds:
        assert r.proposal.recipe and r.recipe_result and r.recipe_result.builder, r.round
        assert r.trial and r.trial.family and r.reporter_score and r.ruling and r.ruling.by == "execution"
        assert r.judge_ruling and r.ruling.reason == r.trial.reason
    assert any(r.judge_ruling and r.ruling and r.judge_ruling.valid != r.ruling.valid for r in rounds)


def test_each_round_panel_shows_the_recipe_its_scores_the_trial_and_both_rulings(records: list[GameRecord]) -> None:
    for record in records:
        game = _game(record)
        shown = elk_rounds(record)
        assert len(shown) == len(game.rounds) + 1
        for r, panel in zip(game.rounds, shown, strict=False):
            text = _plain(panel)
            for expected in _expected_panel(r):
                assert expected in text, (record.item_id, r.round, expected)
            # the trial's reason is the ruling's: said once, on the ruling's line
            assert text.count(r.ruling.reason if r.ruling else "") == 1
        outcome = _plain(shown[-1])
        assert outcome == (
            f"outcome: {game.outcome} ({game.reason}) · scenario {game.scenario} · valid counterexamples "
            f"{game.valid_counterexamples}"
        )


def test_show_prints_the_rounds_of_a_game(run: Path, records: list[GameRecord]) -> None:
    record = next(r for r in records if r.item_id == "patch-review")
    shown = oversight_in_process("show", str(run), record.game_id[:8], env={"COLUMNS": "1000"})
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.replace("│", " ").split())
    for r in _game(record).rounds:
        for expected in _expected_panel(r):
            assert expected in text, expected


def _rows(r: ElkRound) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rows a round must have in the report's proposals and counterexamples tables, from the record's figures."""
    assert r.recipe_result and r.recipe_result.builder and r.counterexample and r.counterexample.actions
    assert r.trial and r.trial.builder and r.reporter_score and r.ruling and r.judge_ruling
    result, trial, score = r.recipe_result, r.trial, r.reporter_score
    proposal = {
        "round": r.round,
        "strategy": r.proposal.strategy,
        "recipe": r.proposal.recipe,
        "recipe AUROC (95% CI)": _auroc(result.builder).replace("(95% ", "("),
        "truth probe AUROC": f"{_reference(result, 'truth-probe').auroc:.3f}",
        "human simulator AUROC": f"{_reference(result, 'human-simulator').auroc:.3f}",
    }
    fakes = "fake positive" if trial.fake_positives == 1 else "fake positives"
    counterexample = {
        "round": r.round,
        "counterexample": r.counterexample.story,
        "episodes": f"family: {' → '.join(r.counterexample.actions)} "
        f"({trial.drawn} drawn, {trial.episodes} valid, {trial.fake_positives} {fakes})",
        # the trial's verdict and reason are the ruling's, in the ruling's column
        "trial: recipe's reporter": _counts(trial.builder),
        "attached reporter": f"reads-sensors (reference rule): detected {score.detected}/{score.fake_positives}, "
        f"passed {score.passed}/{score.real_positives}, AUROC {_auroc(score).replace('(95% ', '(')}",
        "ruling": _ruling(r.ruling),
        "judge's ruling": _ruling(r.judge_ruling, by=False),
    }
    return proposal, counterexample


def _table_rows(view: ReportView | None, table: int) -> list[dict[str, Any]]:
    assert view is not None
    return [dict(zip(view.tables[table].columns, row, strict=True)) for row in view.tables[table].rows]


def test_the_report_tables_have_a_row_per_round_with_the_record_s_figures(records: list[GameRecord]) -> None:
    for record in records:
        game = _game(record)
        view = rounds_view(record)
        assert view is not None
        assert view.title == (
            f"{game.outcome} ({game.reason}) · scenario {game.scenario} · valid counterexamples "
            f"{game.valid_counterexamples}"
        )
        assert [t.title for t in view.tables] == [
            "proposals, and their recipes on the tampering test set",
            "counterexamples, and the recipes on their episodes",
        ]
        # the rounds are in the tables: the page's generic game details keep only what the view does not show
        assert view.shown_meta == {"scenario", "outcome", "reason", "rounds"}
        expected = [_rows(r) for r in game.rounds]
        assert _table_rows(view, 0) == [proposal for proposal, _ in expected]
        assert _table_rows(view, 1) == [counterexample for _, counterexample in expected]


def test_the_report_page_holds_the_rounds_tables(run: Path, records: list[GameRecord], tmp_path: Path) -> None:
    written = oversight_in_process("report", str(run), "-o", str(tmp_path / "r.html"))
    assert written.returncode == 0, written.stderr
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    for record in records:
        view = rounds_view(record)
        assert view is not None
        assert f"<h4>{escape(view.title)}</h4>" in html
        for table in view.tables:
            assert f"<h5>{escape(table.title)}</h5>" in html
            assert "<tr>" + "".join(f"<th>{escape(c)}</th>" for c in table.columns) + "</tr>" in html
            for row in table.rows:
                assert f'<td class="text">{escape(row[1])}</td>' in html
                for cell in row:
                    assert str(escape(str(cell))) in html
    # the rounds, with every probability of every evaluation, are not repeated as JSON under each game
    assert escape('"rounds":') not in html and escape('"fake_scores":') not in html
    assert set(re.findall(r'id="plot-(elk-recipe-auroc-[a-z0-9-]+)"', html)) == {
        f"elk-recipe-auroc-{record.item_id}" for record in records
    }


def test_the_recipe_plots_draw_the_records_figures(run: Path, records: list[GameRecord]) -> None:
    """Each scenario's plot has a group per recipe its builder proposed: the recipe's AUROC and interval, and the
    references', exactly as the game recorded them."""
    summary = json.loads((run / "summary.json").read_text())
    plots = {p.key: p for p in elk_plots(summary["metrics"]["elk"])}
    assert set(plots) == {"elk-builder-survival"} | {f"elk-recipe-auroc-{r.item_id}" for r in records}
    for record in records:
        mine, references = plots[f"elk-recipe-auroc-{record.item_id}"].series, {}
        assert [s.label for s in mine] == ["recipe's reporter", "truth probe", "human simulator"]
        results = {r.proposal.recipe: r.recipe_result for r in _game(record).rounds if r.recipe_result}
        assert sorted(mine[0].x) == sorted(results) and all(list(s.x) == list(mine[0].x) for s in mine)
        for i, recipe in enumerate(mine[0].x):
            result = results[recipe]
            assert result is not None and result.builder and result.builder.auroc_interval
            interval = result.builder.auroc_interval
            assert mine[0].y[i] == result.builder.auroc
            assert mine[0].intervals and mine[0].intervals[i] == (interval.low, interval.high)
            references = {s.label: s.y[i] for s in mine[1:]}
            assert references == {
                "truth probe": _reference(result, "truth-probe").auroc,
                "human simulator": _reference(result, "human-simulator").auroc,
            }


#: the trial of a single episode that fools no sensor
NOT_FOOLED = "only 0 of 1 episodes fool every sensor while the truth is bad (needs 50% fake positives)"


def _variants(base: ElkRound) -> list[ElkRound]:
    """Rounds a scripted run does not play, made from a real one: a free-text proposal the judge ruled on, a recipe
    that could not be read, one that trains no reporter, a single attached episode, a concession, and actions that
    could not be read."""
    assert base.recipe_result and base.trial and base.counterexample
    judged = Ruling(valid=True, reason="it names a bad reporter the strategy cannot rule out", by="judge")
    untrainable = "every training label of 'human-labels' is yes"
    single = base.counterexample.model_copy(update={"family": False, "actions": ["robber_enters", "take_diamond"]})
    # the one episode fools no sensor, so the trial is invalid whatever the base round's trial found
    trial = base.trial.model_copy(update={
        "family": False, "drawn": 1, "episodes": 1, "fake_positives": 0, "fake_episodes": [], "valid": False,
        "reason": NOT_FOOLED,
    })  # fmt: skip
    bare = {"recipe_result": None, "trial": None, "reporter_score": None, "judge_ruling": None, "ruling": judged}
    return [
        base.model_copy(update={"round": 1, "proposal": base.proposal.model_copy(update={"recipe": None}), **bare}),
        base.model_copy(update={
            "round": 2, **bare,
            "proposal": base.proposal.model_copy(update={"recipe": None, "recipe_error": "unknown recipe 'magic'"}),
        }),  # fmt: skip
        base.model_copy(update={
            "round": 3, "reporter_score": None, "judge_ruling": None,
            "recipe_result": RecipeResult(recipe="human-labels", error=untrainable,
                                          references=base.recipe_result.references),
            "trial": base.trial.model_copy(update={"builder": None, "valid": True,
                                                   "reason": f"the recipe trains no reporter: {untrainable}"}),
            "ruling": Ruling(valid=True, reason=f"the recipe trains no reporter: {untrainable}", by="execution"),
        }),  # fmt: skip
        base.model_copy(update={
            "round": 4, "counterexample": single, "trial": trial, "reporter_score": None,
            "ruling": Ruling(valid=False, reason=NOT_FOOLED, by="execution"),
        }),  # fmt: skip
        base.model_copy(update={
            "round": 5, **bare, "counterexample": Counterexample(text="NO COUNTEREXAMPLE", conceded=True),
            "execution": "none", "episode": None,
            "ruling": Ruling(valid=False, reason="the breaker conceded", by="engine"),
        }),  # fmt: skip
        base.model_copy(update={
            "round": 6, **bare, "execution": "invalid-actions", "execution_error": "unknown action 'teleport'",
            "episode": None,
            "counterexample": base.counterexample.model_copy(update={"actions": None, "family": False,
                                                                     "actions_error": "unknown action 'teleport'"}),
        }),  # fmt: skip
    ]


def _with_rounds(record: GameRecord, rounds: list[ElkRound], **changes: Any) -> GameRecord:
    game = _game(record).model_copy(update={"rounds": rounds, **changes})
    return record.model_copy(update={"meta": game.model_dump(mode="json")})


def test_rounds_not_settled_by_a_trial_say_why(records: list[GameRecord]) -> None:
    base = _game(records[0]).rounds[0]
    assert base.recipe_result is not None
    record = _with_rounds(records[0], _variants(base))
    panels = [_plain(p) for p in elk_rounds(record)[:-1]]
    free, unreadable, untrainable, single, conceded, bad_actions = panels
    assert "recipe not executed (a free-text proposal)" in free and not re.search(r"test set (recipe|trains)", free)
    assert not re.search(r"trial (in)?valid", free) and "judge's ruling" not in free
    assert "ruling valid (judge): it names a bad reporter the strategy cannot rule out" in free
    assert "recipe unreadable recipe: unknown recipe 'magic'" in unreadable
    untrained = "test set trains no reporter: every training label of 'human-labels' is yes truth probe: AUROC"
    assert untrained in untrainable
    assert "trial valid · " in untrainable and "recipe's reporter:" not in untrainable.split("trial valid")[1]
    assert "ruling valid (execution): the recipe trains no reporter" in untrainable
    assert "attached episode: robber_enters → take_diamond" in single and "episode fake-positive" in single
    assert "trial invalid · 1 drawn, 1 valid, 0 fake positives" in single
    assert f"ruling invalid (execution): {NOT_FOOLED}" in single
    assert "counterexample conceded" in conceded and "ruling invalid (engine): the breaker conceded" in conceded
    assert "attached unreadable actions episode invalid-actions unknown action 'teleport'" in bad_actions

    view = rounds_view(record)
    proposals, counterexamples = _table_rows(view, 0), _table_rows(view, 1)
    truth = f"{_reference(base.recipe_result, 'truth-probe').auroc:.3f}"
    assert [(r["recipe"], r["recipe AUROC (95% CI)"], r["truth probe AUROC"]) for r in proposals[:3]] == [
        ("not executed (a free-text proposal)", None, None),
        ("unreadable recipe: unknown recipe 'magic'", None, None),
        ("human-labels", "trains no reporter: every training label of 'human-labels' is yes", truth),
    ]
    assert [r["trial: recipe's reporter"] for r in counterexamples[:3]] == [None, None, "no reporter"]
    one = "episode: robber_enters → take_diamond (1 drawn, 1 valid, 0 fake positives)"
    assert counterexamples[3]["episodes"] == one
    assert (counterexamples[4]["counterexample"], counterexamples[4]["episodes"], counterexamples[4]["ruling"]) == (
        "conceded", "no episode attached", "invalid (engine): the breaker conceded"
    )
    assert counterexamples[5]["episodes"] == "unreadable actions: unknown action 'teleport'"
    # a column no round fills is left out: no round below was ruled by execution with the judge asked too, and none
    # attached a reporter; a game whose breaker never answered has no counterexamples table
    without = rounds_view(_with_rounds(records[0], _variants(base)[:3]))
    assert without is not None and "judge's ruling" not in without.tables[1].columns
    assert "attached reporter" not in without.tables[1].columns
    unanswered = base.model_copy(update={"counterexample": None, "trial": None, "ruling": None})
    unanswered_view = rounds_view(_with_rounds(records[0], [unanswered]))
    assert unanswered_view is not None and len(unanswered_view.tables) == 1


def _attacked(record: GameRecord) -> GameRecord:
    """The record with model text carrying HTML and rich markup wherever a model writes into the rounds."""
    game = _game(record)
    first = game.rounds[0]
    assert first.counterexample and first.judge_ruling and first.ruling
    proposal = first.proposal.model_copy(update={
        "strategy": f"strategy {EVIL}", "why": f"why {EVIL}", "reporter": "prompt", "reporter_prompt": f"ask {EVIL}",
    })  # fmt: skip
    counter = first.counterexample.model_copy(update={"story": f"story {EVIL}", "bad_reporter": f"bad {EVIL}"})
    free = first.model_copy(update={
        "round": 2, "recipe_result": None, "trial": None, "judge_ruling": None,
        "proposal": proposal.model_copy(update={"recipe": None, "recipe_error": f"recipe {EVIL}"}),
        "ruling": first.ruling.model_copy(update={"by": "judge", "reason": f"ruled {EVIL}"}),
    })  # fmt: skip
    attacked = first.model_copy(update={
        "proposal": proposal, "counterexample": counter,
        "judge_ruling": first.judge_ruling.model_copy(update={"reason": f"judged {EVIL}"}),
    })  # fmt: skip
    return _with_rounds(record, [attacked, free], reason=f"because {EVIL}")


def test_model_text_in_the_terminal_is_never_markup(records: list[GameRecord]) -> None:
    record = _attacked(records[0])
    text = " ".join(_plain(shown) for shown in elk_rounds(record))
    for said in ("strategy", "why", "ask", "story", "bad", "judged", "recipe", "ruled", "because"):
        assert f"{said} {EVIL}" in text, said


def test_model_text_in_the_report_is_escaped(run: Path, records: list[GameRecord], tmp_path: Path) -> None:
    folder = tmp_path / "attacked"
    folder.mkdir()
    for name in ("run.json", "summary.json"):
        (folder / name).write_bytes((run / name).read_bytes())
    lines = [_attacked(r).model_dump_json() + "\n" for r in records]
    (folder / "transcripts.jsonl").write_text("".join(lines), encoding="utf-8")
    written = oversight_in_process("report", str(folder))
    assert written.returncode == 0, written.stderr
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert SCRIPT not in html and "alert('elk')</" not in html
    escaped = str(escape(EVIL))
    # in each game's table: the strategy of both rounds, the first's story and judge, the second's recipe and
    # ruling; and the game's reason in its title
    for said, times in {"strategy": 2, "story": 1, "judged": 1, "recipe": 1, "ruled": 1, "because": 1}.items():
        assert html.count(f"{said} {escaped}") == times * len(records), said
    dom = Dom()
    dom.feed(html)
    assert dom.scripts == 1 and not dom.tags & {"img", "iframe", "object", "embed"}
