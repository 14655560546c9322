"""How fast a judge's page loads in a web judging session over a 100,000-game stored run.

A scripted debate run of ``--games`` games is made (or reused from ``--keep``), then a judging session is started
on it exactly as a user types it, ``oversight judge RUN --judge web --judges 20 --per-judge 25 --port 0``, under GNU
``/usr/bin/time`` for its peak RSS. Measured: the time from the command's start to its printed invite links
(planning over every stored game), and — once a judge has signed in by invite link — the wall time of
``GET /judge`` (the judge's game page, rendered and sent) over ``--loads`` requests from one keep-alive
connection: median, 90th percentile and the fastest and slowest; and the same page loaded in headless Chromium
(the system's) to its load event. The section goes into ``--out`` (default
``results/benchmarks.md``) under its own heading, replacing an earlier version of it.

    python benchmarks/bench_web.py --games 100000 --keep /tmp/bench-web
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from bench_openai import _revision, write_section, write_task

HEADING = "## A judge's page in a web judging session over 100,000 stored games"
TIME = "/usr/bin/time"


def stored_run(work: Path, games: int, env: dict[str, str]) -> tuple[Path, float | None]:
    """``work/run``: a scripted debate run of ``games`` games, made unless already there; the seconds it took."""
    run = work / "run"
    if (run / "summary.json").exists():
        return run, None
    task = work / "task.jsonl"
    write_task(task, games // 2)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "oversight", "run", "debate", "--model", "scripted/auto", "--task", str(task),
         "--rounds", "1", "--no-cache", "--out", str(run)],
        cwd=work, env=env, check=True, stdout=subprocess.DEVNULL,
    )
    return run, time.perf_counter() - start


def session(work: Path, run: Path, env: dict[str, str], loads: int) -> dict[str, float]:
    """Start the judging session, sign a judge in, time ``loads`` loads of their page; then stop the session."""
    out = work / "judged"
    shutil.rmtree(out, ignore_errors=True)
    peak = work / "judge-peak-rss.txt"
    argv = [sys.executable, "-m", "oversight", "judge", str(run), "--judge", "web", "--judges", "20",
            "--per-judge", "25", "--port", "0", "--out", str(out)]
    start = time.perf_counter()
    # a session of its own: Ctrl-C goes to the whole group, since GNU time ignores SIGINT and passes nothing on
    proc = subprocess.Popen([TIME, "-f", "%M", "-o", str(peak), *argv], cwd=work, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    assert proc.stdout is not None
    url = link = ""
    games = 0
    for line in proc.stdout:
        if found := re.search(r"judging at (http://\S+?)/ .* (\d+) games", line):
            url, games = found.group(1), int(found.group(2))
        if found := re.search(r"judge 1: (http://\S+)", line):
            link = found.group(1)
            break
    startup = time.perf_counter() - start
    if not link:
        proc.wait()
        raise SystemExit(f"the judging session did not start (exit {proc.returncode})")
    timings: list[float] = []
    with httpx.Client(follow_redirects=True, timeout=60) as client:
        page = client.get(link)
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert csrf, page.text
        first = client.post(link, data={"csrf": csrf.group(1), "name": "bench"})
        assert first.url.path == "/judge" and 'name="game"' in first.text, first.text[:500]
        for _ in range(loads):
            began = time.perf_counter()
            response = client.get(url + "/judge")
            timings.append(time.perf_counter() - began)
            assert response.status_code == 200 and 'name="game"' in response.text
    browser = browser_loads(link, url + "/judge", loads)
    os.killpg(proc.pid, signal.SIGINT)
    proc.communicate()
    timings.sort()
    return {
        "browser_median": statistics.median(browser),
        "browser_slowest": max(browser),
        "games": games,
        "startup": startup,
        "median": statistics.median(timings),
        "p90": timings[int(0.9 * (len(timings) - 1))],
        "fastest": timings[0],
        "slowest": timings[-1],
        "rss": float(peak.read_text().strip().splitlines()[-1]) / 1024,
    }


def browser_loads(link: str, page: str, loads: int) -> list[float]:
    """Seconds from asking headless Chromium (the system's) for the judge's page to its load event (the page and its
    style sheet), ``loads`` times, after signing in by ``link``."""
    from playwright.sync_api import sync_playwright

    binary = shutil.which("chromium")
    if binary is None:
        raise SystemExit("chromium is not installed: `apt-get install chromium`")
    timings: list[float] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=binary, args=["--no-sandbox", "--disable-gpu"])
        tab = browser.new_page()
        tab.goto(link)
        for _ in range(loads):
            began = time.perf_counter()
            tab.goto(page, wait_until="load")
            timings.append(time.perf_counter() - began)
        browser.close()
    return timings


def section(args: argparse.Namespace, figures: dict[str, float], made: float | None, load: tuple[float, float]) -> str:
    """The markdown section: what was measured, how, and the figures."""
    command = f"python benchmarks/bench_web.py --games {args.games} --loads {args.loads}"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    made_line = f" (made in {made:.0f} s)" if made is not None else ""
    return (
        f"{HEADING}\n\n"
        f"A stored run of {args.games:,} scripted debate games{made_line}; then `oversight judge RUN --judge web "
        f"--judges 20 --per-judge 25 --port 0` ({figures['games']:.0f} games assigned), a judge signed in by invite link, and "
        f"their game page loaded {args.loads} times in headless Chromium and fetched {args.loads} times with httpx "
        "(`GET /judge`, the page rendered and sent, over one keep-alive connection), from the same machine.\n\n"
        f"```\n{command}\n```\n\n"
        f"{when} · {os.cpu_count()} cores ({platform.machine()}) · {platform.system()} · Python "
        f"{platform.python_version()}{_revision()}\n\n"
        "| figure | value |\n|---|---:|\n"
        f"| judge page load in headless Chromium (to its load event), median · slowest | "
        f"{figures['browser_median'] * 1000:.1f} · {figures['browser_slowest'] * 1000:.1f} ms |\n"
        f"| judge page load (`GET /judge`, httpx), median | {figures['median'] * 1000:.1f} ms |\n"
        f"| 90th percentile · fastest · slowest | {figures['p90'] * 1000:.1f} · {figures['fastest'] * 1000:.1f} · "
        f"{figures['slowest'] * 1000:.1f} ms |\n"
        f"| command start to invite links printed (plans over every stored game) | {figures['startup']:.1f} s |\n"
        f"| the judging command's peak RSS | {figures['rss']:,.0f} MB |\n"
        f"| load average (1 min), start → end | {load[0]:.2f} → {load[1]:.2f} |\n"
    )


def main() -> None:
    """Make or reuse the stored run, measure the session, write the section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=100_000, help="games in the stored run")
    parser.add_argument("--loads", type=int, default=50, help="timed loads of the judge's page")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks.md"), help="markdown file to update")
    parser.add_argument("--keep", type=Path, help="make (or reuse) the stored run here instead of a temporary folder")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-web-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["OVERSIGHT_CACHE_DIR"] = str(work / "cache")
    try:
        run, made = stored_run(work, args.games, env)
        before = os.getloadavg()[0]
        figures = session(work, run, env, args.loads)
        load = (before, os.getloadavg()[0])
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    text = section(args, figures, made, load)
    write_section(args.out, text, HEADING)
    print(text)


if __name__ == "__main__":
    main()
