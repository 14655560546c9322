"""The demo tournament's work, end to end, on this checkout and on an earlier commit, side by side.

The demo (``oversight/tournaments/default.toml``) plays the judge alone (``blind``, ``expert``) on 10 items and
the speakers' protocols (``consultancy``, ``debate``) on 2 items each. Older commits read no per-protocol
``[limits]``, so the same work is played as two tournaments, each a copy of the demo's players, judge and
settings: *judge alone* (blind and expert, limit 10) and *speakers* (consultancy and debate, limit 2). Each
checkout plays both, as ``python -m oversight tournament CONFIG --no-cache --out RUN`` in a process of its own
with the checkout first on ``PYTHONPATH`` (the earlier commit from a ``git worktree``), alternating checkouts
each repetition so that a change in the machine's load falls on both. Both play the same items: this checkout's
version of the demo's task, written to a JSON lines file that each checkout reads (built-in tasks change between
commits). The response cache is off, and the embedded weights must already be in place (``oversight models``).

For each run the table gives the wall time and, from its transcripts, the prompt tokens sent, those the backend
says it computed (sent minus reused from its prompt cache; ``-`` where the backend did not say) and the tokens
generated. The section replaces an earlier version of itself in ``--out`` (default ``results/benchmarks.md``).

    python benchmarks/bench_demo.py --before 0dc998a --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_openai import _revision, write_section
from earlier import ROOT, earlier_checkout, write_task

HEADING = "## The demo tournament, before and after, side by side"
DEMO = ROOT / "oversight" / "tournaments" / "default.toml"
#: the demo's work as two tournaments any commit can play: (name, protocols, items per protocol)
WORKLOADS = (("judge alone", ["blind", "expert"], 10), ("speakers", ["consultancy", "debate"], 2))


@dataclass
class Played:
    checkout: str
    workload: str
    wall: float
    games: int
    failed: int
    sent: int
    #: prompt tokens computed, over the calls whose backend said how many it reused; None when none said
    computed: int | None
    generated: int


def toml_value(value: Any) -> str:
    """A TOML literal for the plain values a tournament config holds."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


def workload_config(demo: dict[str, Any], name: str, protocols: list[str], limit: int, task: Path) -> str:
    """The demo's players, judges and settings, playing ``protocols`` on the first ``limit`` items of ``task``."""
    lines = [f"name = {toml_value('demo-' + name.replace(' ', '-'))}", f"task = {toml_value(str(task))}"]
    for key in ("seed", "max_connections"):
        lines.append(f"{key} = {toml_value(demo[key])}")
    lines += [f"limit = {limit}", f"protocols = {toml_value(protocols)}", "", "[settings]"]
    lines += [f"{key} = {toml_value(value)}" for key, value in demo["settings"].items()]
    for table in ("players", "judges"):
        for entry in demo[table]:
            lines += ["", f"[[{table}]]", *(f"{key} = {toml_value(value)}" for key, value in entry.items())]
    return "\n".join(lines) + "\n"


def tokens(run: Path) -> tuple[int, int, int, int | None, int]:
    """Games, failed games, prompt tokens sent, computed (None when no call said) and generated, from the log."""
    games = failed = sent = generated = 0
    computed: int | None = None
    with (run / "transcripts.jsonl").open(encoding="utf-8") as log:
        for line in log:
            record = json.loads(line)
            games += 1
            failed += record.get("status") == "failed"
            for call in record.get("calls", []):
                usage = call.get("usage", {})
                sent += usage.get("prompt_tokens", 0)
                generated += usage.get("completion_tokens", 0)
                if usage.get("cached_prompt_tokens") is not None and not call.get("cached"):
                    computed = (computed or 0) + usage["prompt_tokens"] - usage["cached_prompt_tokens"]
    return games, failed, sent, computed, generated


def play(checkout: str, source: Path, config: Path, workload: str, work: Path) -> Played:
    """One tournament in a process of its own, with ``source`` first on the import path."""
    run = work / f"{checkout}-{config.stem}-{time.monotonic_ns()}"
    env = {**os.environ, "PYTHONPATH": str(source), "OVERSIGHT_CACHE_DIR": str(work / "cache")}
    argv = [sys.executable, "-m", "oversight", "tournament", str(config), "--no-cache", "--out", str(run)]
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 3):  # 3: some games failed, which the table shows
        sys.exit(f"{checkout} {workload}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return Played(checkout, workload, wall, *tokens(run))


def table(played: list[Played]) -> str:
    """One row per checkout and workload, then each checkout's total: the median over repetitions of wall time."""
    rows = ["| checkout | work | wall s, each run | games (failed) | prompt tokens sent | computed | generated |",
            "|---|---|---:|---:|---:|---:|---:|"]
    totals: dict[str, list[float]] = {}
    for checkout in dict.fromkeys(p.checkout for p in played):
        for workload, _, _ in WORKLOADS:
            runs = [p for p in played if p.checkout == checkout and p.workload == workload]
            last = runs[-1]
            walls = " / ".join(f"{p.wall:.1f}" for p in runs)
            computed = "-" if last.computed is None else f"{last.computed:,}"
            rows.append(f"| {checkout} | {workload} | {walls} | {last.games} ({last.failed}) | {last.sent:,} | "
                        f"{computed} | {last.generated:,} |")
            for i, p in enumerate(runs):
                totals.setdefault(checkout, [0.0] * len(runs))[i] += p.wall
    for checkout, walls in totals.items():
        rows.append(f"| {checkout} | **both** | **{' / '.join(f'{w:.1f}' for w in walls)}** | | | | |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="0dc998a", help="the earlier commit (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=1, help="repetitions of each (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks.md")
    args = parser.parse_args()
    demo = tomllib.loads(DEMO.read_text(encoding="utf-8"))
    before_label = f"{args.before} (before)"
    start_load = os.getloadavg()[0]
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        work = Path(tmp)
        with earlier_checkout(args.before, work / "before") as old:
            task = write_task(demo["task"], demo["seed"], work / f"{demo['task']}.jsonl")
            configs = []
            for name, protocols, limit in WORKLOADS:
                path = work / f"{name.replace(' ', '-')}.toml"
                path.write_text(workload_config(demo, name, protocols, limit, task), encoding="utf-8")
                configs.append((name, path))
            played: list[Played] = []
            for repetition in range(args.repeat):
                order = [(before_label, old), ("this checkout", ROOT)]
                for checkout, source in order if repetition % 2 == 0 else order[::-1]:
                    for name, path in configs:
                        played.append(play(checkout, source, path, name, work))
                        print(f"{checkout} · {name}: {played[-1].wall:.1f} s", file=sys.stderr)
    end_load = os.getloadavg()[0]
    played.sort(key=lambda p: p.checkout != before_label)
    header = (f"{started:%Y-%m-%d %H:%M} UTC · {os.cpu_count()} cores ({platform.machine()}) · Python "
              f"{platform.python_version()}{_revision()} · load average {start_load:.2f} at the start, "
              f"{end_load:.2f} at the end")
    text = (f"{HEADING}\n\n{__doc__.split(chr(10) * 2)[1].strip()}\n\n```\n"
            f"python benchmarks/bench_demo.py --before {args.before} --repeat {args.repeat}\n```\n\n"
            f"{header}\n\n{table(played)}\n")
    write_section(args.out, text, HEADING)
    print(text)


if __name__ == "__main__":
    main()
