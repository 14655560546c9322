"""Wall time and peak memory of a run and of reading it back, at 1k, 10k and 100k scripted games.

For each size, a task file of built-in two-choice stories is written (debate plays each item in both seatings,
so N games need N/2 items) and these commands run as subprocesses, exactly as a user types them:

- ``oversight run debate --model scripted/auto --task FILE --rounds 1 --no-cache --out RUN`` (play + summary);
- ``oversight show RUN`` (summary tables and the capped list of games);
- ``oversight show RUN GAME`` twice, with an 8-character id prefix of the log's middle game: first with the
  log's index removed (so it is rebuilt), then with it in place;
- ``oversight report RUN``.

Peak RSS is each command's own, as GNU ``/usr/bin/time`` reports it. The table goes into ``--out`` (default
``results/benchmarks.md``) under its own heading, replacing an earlier version of that section.

    python benchmarks/bench_memory.py --sizes 1000 10000 100000
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench_openai import _revision, write_section, write_task

HEADING = "## Memory and time of reading a run back: 1k, 10k and 100k games"
#: GNU time (Debian package ``time``): reports the peak RSS of the command it runs
TIME = "/usr/bin/time"
#: the run folder's files whose sizes are reported
FILES = ("transcripts.jsonl", "index.json", "report.html")
#: games each item gives rise to: debate plays both seatings, blind one game
GAMES_PER_ITEM = {"debate": 2, "blind": 1}


@dataclass
class Measurement:
    wall: float
    #: the child's peak resident set, in MB
    rss: float


def load_average() -> float:
    return os.getloadavg()[0]


def measure(argv: list[str], cwd: Path, env: dict[str, str]) -> Measurement:
    """Run one command to the end; its own wall time and peak RSS. A failure stops the benchmark.

    The peak comes from GNU time, which forks the command itself: a child forked from this process would count
    this process's own memory, shared until the child execs, in its peak."""
    log, peak = cwd / "stderr.txt", cwd / "peak-rss.txt"
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as err:
        proc = subprocess.run([TIME, "-o", str(peak), "-f", "%M", *argv], cwd=cwd, env=env,
                              stdout=subprocess.DEVNULL, stderr=err, check=False)  # fmt: skip
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited with {proc.returncode}:\n{log.read_text(encoding='utf-8')[-2000:]}")
    return Measurement(wall, int(peak.read_text(encoding="utf-8").split()[-1]) / 1024)


def middle_game(log: Path) -> str:
    """The id of the game in the middle of the log, read without loading the log."""
    with open(log, "rb") as handle:
        handle.seek(log.stat().st_size // 2)
        handle.readline()  # the rest of a line cut in the middle
        line = handle.readline().decode()
    start = line.index('"game_id":"') + len('"game_id":"')
    return line[start : line.index('"', start)]


@dataclass
class SizeResult:
    games: int
    steps: dict[str, Measurement]
    files: dict[str, int]
    load: tuple[float, float]


def bench_size(games: int, protocol: str, work: Path, env: dict[str, str]) -> SizeResult:
    oversight = [sys.executable, "-m", "oversight"]
    work.mkdir(parents=True)
    task = work / "task.jsonl"
    write_task(task, games // GAMES_PER_ITEM[protocol])
    load_before = load_average()
    run = work / "run"
    play = ["run", protocol, "--model", "scripted/auto", "--task", str(task), "--rounds", "1", "--no-cache"]
    steps = {
        "run": measure([*oversight, *play, "--out", str(run)], work, env),
        "show": measure([*oversight, "show", str(run)], work, env),
    }
    prefix = middle_game(run / "transcripts.jsonl")[:8]
    (run / "index.json").unlink(missing_ok=True)
    steps["show game, no index"] = measure([*oversight, "show", str(run), prefix], work, env)
    steps["show game"] = measure([*oversight, "show", str(run), prefix], work, env)
    steps["report"] = measure([*oversight, "report", str(run)], work, env)
    files = {name: (run / name).stat().st_size for name in FILES if (run / name).exists()}
    return SizeResult(games, steps, files, (load_before, load_average()))


STEP_LABELS = {
    "run": "`run` (play, then summary)",
    "show": "`show RUN`",
    "show game, no index": "`show RUN GAME`, index missing (rebuilt)",
    "show game": "`show RUN GAME`, index present",
    "report": "`report RUN`",
}


def table(results: list[SizeResult]) -> str:
    head = "| | " + " | ".join(f"{r.games:,} games" for r in results) + " |"
    lines = [head, "|---|" + "---:|" * len(results)]
    for step, label in STEP_LABELS.items():
        cells = [f"{r.steps[step].wall:.1f} s · {r.steps[step].rss:,.0f} MB" for r in results]
        lines.append(f"| {label}: wall · peak RSS | " + " | ".join(cells) + " |")
    for name in FILES:
        cells = [f"{r.files[name] / 1e6:,.1f} MB" if name in r.files else "-" for r in results]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    loads = [f"{r.load[0]:.2f} → {r.load[1]:.2f}" for r in results]
    lines.append("| load average (1 min), start → end | " + " | ".join(loads) + " |")
    return "\n".join(lines) + "\n"


def section(args: argparse.Namespace, results: list[SizeResult]) -> str:
    command = f"python benchmarks/bench_memory.py --sizes {' '.join(map(str, args.sizes))} --protocol {args.protocol}"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cores = os.cpu_count()
    return (
        f"{HEADING}\n\n"
        f"Scripted {args.protocol} games (`scripted/auto` in every role, one round, no response cache), played and "
        "then read back by the commands a user types, each in its own process; peak RSS is the process's own, "
        "from GNU `/usr/bin/time`.\n\n"
        f"```\n{command}\n```\n\n"
        f"{when} · {cores} cores ({platform.machine()}) · {platform.system()} · Python {platform.python_version()}"
        f"{_revision()}\n\n{table(results)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000], help="games per run")
    parser.add_argument("--protocol", choices=sorted(GAMES_PER_ITEM), default="debate")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks.md"), help="markdown file to update")
    parser.add_argument("--keep", type=Path, help="keep the run folders here instead of a temporary folder")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-memory-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["OVERSIGHT_CACHE_DIR"] = str(work / "cache")
    results = []
    try:
        for games in args.sizes:
            result = bench_size(games, args.protocol, work / f"{games}", env)
            print(table([result]), flush=True)
            results.append(result)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    text = section(args, results)
    write_section(args.out, text, HEADING)
    print(text)


if __name__ == "__main__":
    main()
