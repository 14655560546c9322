"""Plots: every applicable plot on the page and in ``RUN/plots/`` for real scripted runs, their figures checked
against the metrics, and text from models and users never markup."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from oversight.calibration import expected_calibration_error
from oversight.plots import PlotSpec, ReliabilityTally, Series, protocol_plots
from oversight.protocol import PROTOCOLS
from oversight.records import GameRecord, RunManifest, Verdict
from oversight.report import write_report
from oversight.runfolder import RunFolder
from oversight.scoring import summarise
from tests.conftest import oversight, oversight_in_process
from tests.test_ratings import NOW, game
from tests.test_report import Dom
from tests.test_tournament import SCRIPTED_CONFIG

EVIL = "<script>alert(1)</script> & co"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: the run each plot-bearing command makes, and the plots its report must hold (exactly these)
RUNS = {
    "tournament": (
        ("tournament", "scripted.toml"),
        {"judge-accuracy-by-protocol", "reliability", "accuracy-vs-rating", "win-rate-by-seat", "win-rate-by-side"},
    ),
    "ida": (
        ("run", "ida", "--limit", "8", "--model", "scripted/oracle"),
        {"judge-accuracy-by-protocol", "ida-amplified-vs-direct", "ida-node-accuracy-by-depth"},
    ),
    "elk": (
        ("run", "elk", "--model", "scripted/elk"),
        {"elk-builder-survival", *(f"elk-recipe-auroc-{s}" for s in ("smartvault", "cold-chain", "patch-review"))},
    ),
}


def _figures(html: str) -> set[str]:
    return set(re.findall(r'<figure class="plot" id="plot-([a-z0-9-]+)">', html))


def _plot_files(run: Path) -> set[str]:
    return {path.stem for path in (run / "plots").iterdir()}


def _check_files(run: Path, keys: set[str]) -> None:
    """Each plot as a well-formed SVG and a PNG, and nothing else."""
    assert sorted(p.name for p in (run / "plots").iterdir()) == sorted(f"{k}.{s}" for k in keys for s in ("png", "svg"))
    for key in keys:
        assert (run / "plots" / f"{key}.png").read_bytes().startswith(PNG_SIGNATURE)
        assert ET.parse(run / "plots" / f"{key}.svg").getroot().tag == "{http://www.w3.org/2000/svg}svg"


@pytest.mark.parametrize("kind", sorted(RUNS))
def test_a_report_holds_every_applicable_plot_and_writes_its_files(workdir: Path, kind: str) -> None:
    command, keys = RUNS[kind]
    (workdir / "scripted.toml").write_text(SCRIPTED_CONFIG)
    result = oversight(*command, "--out", "run")
    assert result.returncode == 0, result.stderr
    written = oversight_in_process("report", "run")
    assert written.returncode == 0, written.stderr
    html = (workdir / "run" / "report.html").read_text(encoding="utf-8")
    assert _figures(html) == keys
    _check_files(workdir / "run", keys)
    # every plot's SVG on the page is well-formed and named for readers of the page
    for svg in re.findall(r"<svg .*?</svg>", html, re.DOTALL):
        root = ET.fromstring(svg)
        assert root.get("role") == "img" and root.get("aria-label")
    # several plots share one page: no id twice
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))


def _write_run(folder: Path, records: list[GameRecord], metrics: dict[str, dict]) -> None:
    folder.mkdir()
    run = RunFolder(folder)
    run.write_manifest(
        RunManifest(
            run_id="evil", command=["oversight", "tournament"], config={}, config_hash="0" * 64,
            models={"judge": EVIL}, package_version="0", python_version="3", seed=0, started_at=NOW, status="complete",
        )
    )  # fmt: skip
    (folder / "transcripts.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
    summary = summarise("evil", records)
    summary.metrics = metrics
    run.write_summary(summary)


def test_names_from_models_and_users_never_reach_the_page_as_markup(tmp_path: Path) -> None:
    """A protocol, players and a judge named with markup, and figures of a protocol no longer installed or in an
    unknown shape: the plots are drawn, the names are text, and the page keeps its one script."""
    records = []
    for n in range(6):
        record = game(EVIL, "plain", "A" if n % 3 else "B", item=f"i{n}", a_honest=n % 2 == 0, judge=f"{EVIL} judge",
                      protocol=EVIL)  # fmt: skip
        assert record.verdict is not None and record.verdict.choice is not None
        probabilities = [0.3, 0.3]
        probabilities[record.verdict.choice] = 0.7
        verdict = Verdict(choice=record.verdict.choice, probabilities=probabilities)
        records.append(record.model_copy(update={"verdict": verdict}))
    _write_run(tmp_path / "run", records, {EVIL: {"games": 6}, "debate": {"figures": "of another shape"}})
    html = write_report(tmp_path / "run").read_text(encoding="utf-8")
    assert _figures(html) == {"judge-accuracy-by-protocol", "reliability", "accuracy-vs-rating"}
    _check_files(tmp_path / "run", _figures(html))
    assert "<script>alert" not in html and "alert(1)</script>" not in html
    dom = Dom()
    dom.feed(html)
    assert dom.scripts == 1 and not dom.tags & {"img", "iframe", "object", "embed", "foreignobject"}
    # the plots draw names as glyph outlines: none of their text is on the page as text or comments
    for figure in re.findall(r'<figure class="plot".*?</figure>', html, re.DOTALL):
        assert "alert" not in figure and "<!--" not in figure


def test_protocol_plots_merge_by_key_and_escape_their_text() -> None:
    # a dollar sign is text, not mathtext (an unbalanced formula would stop the drawing)
    label = f"{EVIL} $\\frac{{$"
    bars = PlotSpec("seat-bias", "Wins by seat", "seat", "wins",
                    [Series(label, ["A", EVIL], [0.25, 1.0], [(0.1, 0.5), (0.6, 1.0)], [4, 4])])  # fmt: skip
    lines = PlotSpec("by-round", f"Rounds {EVIL}", "round", "share", [Series("a", [1, 2], [0.0, None])], "lines")
    plots = protocol_plots([(EVIL, bars), ("debate", bars), (EVIL, lines)])
    # one protocol's plot names it in the title; a key shared by two is one plot, its series named by protocol
    assert [(p.key, p.title) for p in plots] == [
        ("seat-bias", "Wins by seat"), ("by-round", f"Rounds {EVIL} · {EVIL}")
    ]
    assert [text.get_text() for text in plots[0].figure.legends[0].get_texts()] == [EVIL, "debate"]
    for plot in plots:
        inline = str(plot.inline_svg)
        root = ET.fromstring(inline)
        assert root.findtext("{http://www.w3.org/2000/svg}title") == plot.title == root.get("aria-label")
        assert "<script" not in inline and "alert(1)</" not in inline
        assert "<script" not in plot.svg  # the file, too: matplotlib escapes what it keeps of the text
        assert plot.png().startswith(PNG_SIGNATURE)


@pytest.mark.parametrize("key", ["Has Caps", "spaces here", "../up", "reliability", ""])
def test_a_plot_key_is_a_safe_name_of_its_own(key: str) -> None:
    with pytest.raises(ValueError, match="plot key"):
        PlotSpec(key, "t", "x", "y", [])


def test_the_reliability_bins_give_the_summary_s_calibration_error() -> None:
    rng = random.Random(0)
    tally = ReliabilityTally()
    confidences, hits = [], []
    for n in range(200):
        confidence = rng.choice([0.0, 0.5, 0.55, 0.7, 0.9, 1.0, rng.random()])
        correct = rng.random() < confidence
        # seat A defends the answer (choice 0): the judge chooses it with this confidence, or the other
        probabilities = [confidence, 1 - confidence] if correct else [1 - confidence, confidence]
        verdict = Verdict(choice=0 if correct else 1, probabilities=probabilities)
        tally.add(game("a", "b", "A" if correct else "B", item=f"i{n}").model_copy(update={"verdict": verdict}))
        confidences.append(confidence)
        hits.append(correct)
    assert tally.calibration_error("debate") == pytest.approx(expected_calibration_error(confidences, hits))


def test_family_plots_read_their_metrics() -> None:
    debate = PROTOCOLS.get("debate").plots(
        {"judged": 4, "invalid_verdicts": 0, "with_probabilities": 0, "ece_10_bins": None, "brier": None,
         "log_score": None, "win_rate_by_seat": [{"seat": "A", "games": 4, "win_rate": 0.75}],
         "by_side": [{"side": "correct", "games": 4, "win_rate": 1.0, "quotes": 0, "verified_rate": None}]}
    )  # fmt: skip
    assert [(p.key, list(p.series[0].x), list(p.series[0].y), p.series[0].counts) for p in debate] == [
        ("win-rate-by-seat", ["Debater 1"], [0.75], [4]),
        ("win-rate-by-side", ["defending the correct answer"], [1.0], [4]),
    ]
    # builders that survived in round 1 and round 2, and a breaker who broke all three rounds
    games = [{"item": "s", "winner": w, "rounds": r, "survived": 1, "valid": 0, "episodes": 0, "fooled": 0}
             for w, r in (("builder", 1), ("builder", 2), ("breaker", 3))]  # fmt: skip
    # two recipes in one scenario (one of which trains no reporter) and one in another
    recipes = [
        {"scenario": scenario, "recipe": recipe, "rounds": 1, "auroc": auroc, "auroc_low": low, "auroc_high": high,
         "detection": None, "passed": None, "truth_probe": 1.0, "human_simulator": 0.6, "trials": 1,
         "valid_trials": 1, "error": None if auroc else "untrainable"}
        for scenario, recipe, auroc, low, high in (("vault", "human-labels", 0.4, 0.3, 0.5),
                                                   ("vault", "staged-cases", None, None, None),
                                                   ("Odd Name!", "human-labels", 0.9, 0.8, 1.0))
    ]
    elk = PROTOCOLS.get("elk").plots(
        {"games": 3, "builder_survival_rate": 2 / 3, "mean_rounds": 2.0, "valid_counterexamples": 3,
         "conceded_counterexamples": 0, "malformed_counterexamples": 0, "unreadable_rulings": 0, "episodes_run": 0,
         "executed_rounds": 3, "judge_agrees_with_execution": None, "by_game": games, "by_scenario": [],
         "episodes": [], "recipes": recipes, "reporters": []}
    )  # fmt: skip
    assert [p.key for p in elk] == ["elk-builder-survival", "elk-recipe-auroc-vault", "elk-recipe-auroc-odd-name"]
    assert [(list(s.x), list(s.y)) for s in elk[0].series] == [([1, 2, 3], [1 / 3, 2 / 3, 2 / 3])]
    assert [(s.label, list(s.x), list(s.y), s.intervals) for s in elk[1].series] == [
        ("recipe's reporter", ["human-labels", "staged-cases"], [0.4, None], [(0.3, 0.5), None]),
        ("truth probe", ["human-labels", "staged-cases"], [1.0, 1.0], None),
        ("human simulator", ["human-labels", "staged-cases"], [0.6, 0.6], None),
    ]
    assert elk[2].title == "Detection AUROC by recipe · Odd Name!" and elk[2].kind == "bars"
    assert [p.key for p in protocol_plots([("elk", spec) for spec in elk])] == [spec.key for spec in elk]
    for name in ("debate", "ida", "elk"):
        assert PROTOCOLS.get(name).plots({"schema_version": 99}) == []
