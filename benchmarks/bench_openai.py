"""Debate games against a loopback OpenAI-compatible server: our wall time next to a bare ``openai``-SDK loop.

One invocation starts ``python -m oversight.loopback`` in its own process (so the server's CPU is not the
client's), then measures, against that one server:

(a) ``oversight.runner.execute`` playing N debate games (``openai/debater`` × 2, ``openai/judge``, no cache);
(b) a bare ``AsyncOpenAI`` loop making the same requests, at most C in flight, on the SDK's aiohttp transport;
(b') the same loop on the SDK's default httpx transport, for reference;
(c) the latency ideal, calls × latency ÷ C, and the chain-aware ideal, which also allows for each game's calls
    being a sequential chain: max(calls × latency ÷ C, calls per game × latency);
(d) client CPU per call (``time.process_time`` of this process ÷ calls) and the server's, from ``/proc``.

The bare loops replay exactly the chat requests our first run sent, recorded at the SDK's HTTP client, so the
two sides send the same bytes. Each contender runs ``--repeat`` times, interleaved; the median run is reported.

    python benchmarks/bench_openai.py --games 2000 --connections 256 --latency 0.2 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal, get_args

import httpx2
import openai
from openai.resources.chat.completions import AsyncCompletions

from oversight.models.concurrency import START
from oversight.runner import RunConfig, execute
from oversight.tasks import load_task

HEADING = "## Debate games against a loopback OpenAI-compatible server"
ROLES = {"debater_a": "openai/debater", "debater_b": "openai/debater", "judge": "openai/judge"}
TIMEOUT = 120.0
Transport = Literal["aiohttp", "httpx"]


@dataclass
class Measurement:
    label: str
    wall: float
    client_cpu: float
    server_cpu: float
    #: CPU seconds the rest of the machine spent meanwhile; anything sizeable means the figures are disturbed
    other_cpu: float
    calls: int
    failed: int


class Clocks:
    """Wall time, this process's CPU, the server's CPU and the whole machine's busy CPU, between start and stop."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self._start = self._read()

    def _read(self) -> tuple[float, float, float, float]:
        return time.perf_counter(), time.process_time(), _process_cpu(self.server_pid), _machine_busy()

    def stop(self, label: str, calls: int, failed: int) -> Measurement:
        end = self._read()
        wall, client, server, busy = (b - a for a, b in zip(self._start, end, strict=True))
        return Measurement(label, wall, client, server, max(0.0, busy - client - server), calls, failed)


# --- the loopback server, in its own process ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of another process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> float:
    """CPU seconds all cores have spent busy (or stolen by the host) since boot (Linux ``/proc/stat``)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def loopback_server(latency: float) -> Iterator[tuple[str, int]]:
    """Yield (base URL, pid) of a loopback server that answers every chat request after ``latency`` seconds."""
    port = _free_port()
    command = [sys.executable, "-m", "oversight.loopback", "--port", str(port), "--latency", str(latency)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # a proxy setting must not intercept it
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"loopback server exited with {server.returncode}")
            try:
                with direct.open(f"{url}/models", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("loopback server did not answer within 30 s") from None
                time.sleep(0.05)
        yield url, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --- the workload ----------------------------------------------------------------------------------------


def write_task(path: Path, items: int) -> None:
    """A task file of ``items`` built-in stories; debate plays each item twice (once per seating).

    The built-in set is small, so further seeds are drawn and their items renamed to keep ids unique.
    """
    rows: list[str] = []
    seed = 0
    while len(rows) < items:
        for item in load_task("mini-stories", seed=seed).items[: items - len(rows)]:
            rows.append(json.dumps({**item.model_dump(mode="json"), "id": f"s{seed}-{item.id}"}))
        seed += 1
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


class RequestRecorder:
    """Keeps the body of every chat request the SDK sends while active, whatever the engine's code path."""

    def __init__(self) -> None:
        self._raw: list[bytes] = []
        self._send = httpx2.AsyncClient.send

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self._raw]

    def __enter__(self) -> RequestRecorder:
        original, raw = self._send, self._raw

        async def send(client: httpx2.AsyncClient, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
            if request.url.path.endswith("/chat/completions"):
                raw.append(request.content)  # decoded later: the recording run is also a measured run
            return await original(client, request, **kwargs)

        httpx2.AsyncClient.send = send  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        httpx2.AsyncClient.send = self._send  # type: ignore[method-assign]


def create_kwargs(body: dict[str, Any]) -> dict[str, Any]:
    """A recorded request body as ``chat.completions.create`` arguments; what it does not name goes in extra_body."""
    known = inspect.signature(AsyncCompletions.create).parameters
    kwargs = {k: v for k, v in body.items() if k in known}
    if extra := {k: v for k, v in body.items() if k not in known}:
        kwargs["extra_body"] = extra
    return kwargs


# --- the three measurements ------------------------------------------------------------------------------


async def measure_engine(
    task_path: Path, rounds: int, connections: int, server_pid: int, out: Path
) -> tuple[Measurement, int]:
    """Our run, and the most calls one game made (its calls are a chain: each waits for the one before)."""
    config = RunConfig(
        protocol="debate",
        task=str(task_path),
        roles=ROLES,
        options={"rounds": rounds},
        max_connections=connections,
        cache=False,
        out=out,
        timeout=TIMEOUT,
    )
    clocks = Clocks(server_pid)
    result = await execute(config, ["bench_openai"])
    measurement = clocks.stop("oversight `execute` (debate)", 0, 0)
    records = result.folder.records()
    measurement.calls = sum(len(r.calls) for r in records)
    measurement.failed = sum(r.status != "complete" for r in records)
    return measurement, max((len(r.calls) for r in records), default=0)


def _client(transport: Transport, base_url: str, connections: int) -> openai.AsyncOpenAI:
    limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
    http_client = (
        openai.DefaultAioHttpClient(limits=limits, timeout=TIMEOUT)
        if transport == "aiohttp"
        else openai.DefaultAsyncHttpxClient(limits=limits, timeout=TIMEOUT)
    )
    return openai.AsyncOpenAI(
        base_url=base_url, api_key="bench-key", max_retries=0, timeout=TIMEOUT, http_client=http_client
    )


async def measure_bare(
    transport: Transport, requests: list[dict[str, Any]], base_url: str, connections: int, server_pid: int
) -> Measurement:
    client = _client(transport, base_url, connections)
    slots = asyncio.Semaphore(connections)

    async def call(request: dict[str, Any]) -> None:
        async with slots:
            await client.chat.completions.create(**request)

    clocks = Clocks(server_pid)
    outcomes = await asyncio.gather(*(call(r) for r in requests), return_exceptions=True)
    failed = sum(isinstance(o, BaseException) for o in outcomes)
    measurement = clocks.stop(f"bare SDK loop, {transport} transport", len(requests), failed)
    await client.close()
    return measurement


# --- report ----------------------------------------------------------------------------------------------


def median_run(runs: list[Measurement]) -> Measurement:
    return sorted(runs, key=lambda m: m.wall)[len(runs) // 2]


def table(runs: list[list[Measurement]], latency: float, connections: int, per_game: int) -> str:
    """One row per contender (its median-wall repetition), then the two ideals; times relative to bare aiohttp."""
    rows = [median_run([rep[i] for rep in runs]) for i in range(len(runs[0]))]
    reference = rows[1].wall  # the bare loop on the transport our backend uses
    calls = rows[0].calls
    ideal = calls * latency / connections
    chained = max(ideal, per_game * latency)
    lines = [
        "| | wall s | all runs, s | vs bare aiohttp | calls | client CPU ms/call | server CPU ms/call "
        "| other load, cores | failed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, m in enumerate(rows):
        n = max(m.calls, 1)
        walls = " / ".join(f"{rep[i].wall:.2f}" for rep in runs)
        lines.append(
            f"| {m.label} | {m.wall:.2f} | {walls} | {m.wall / reference:.2f}× | {m.calls} "
            f"| {1000 * m.client_cpu / n:.2f} | {1000 * m.server_cpu / n:.2f} "
            f"| {m.other_cpu / m.wall:.2f} | {m.failed} |"
        )
    lines.append(
        f"| latency ideal: calls × {latency:g} s ÷ {connections} | {ideal:.2f} | | {ideal / reference:.2f}× "
        f"| {calls} | | | | |"
    )
    lines.append(
        f"| chain-aware ideal: max(that, {per_game} calls/game × {latency:g} s) | {chained:.2f} | "
        f"| {chained / reference:.2f}× | {calls} | | | | |"
    )
    return "\n".join(lines)


def _revision() -> str:
    """The checkout measured, as `` · commit a1b2c3d`` (``-dirty`` with local edits); empty outside git."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return f" · commit {described.stdout.strip()}"


def section(args: argparse.Namespace, body: str, games: int, per_game: int, load: tuple[float, float]) -> str:
    command = "python benchmarks/bench_openai.py " + " ".join(
        f"--{k} {shlex.quote(str(v))}" for k, v in vars(args).items() if k != "out"
    )
    facts = (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {os.cpu_count()} cores ({platform.machine()}) · "
        f"{platform.system()} · Python {platform.python_version()} · openai {openai.__version__} · "
        f"aiohttp {version('aiohttp')} · httpx2 {version('httpx2')}{_revision()} · "
        f"load average {load[0]:.2f} at the start, {load[1]:.2f} at the end"
    )
    return (
        f"{HEADING}\n\n"
        f"{games} debate games ({args.rounds} round(s): {2 * args.rounds} debater turns, then the judge; "
        f"{per_game} calls per game), {args.connections} connections, {args.latency:g} s server latency, "
        f"response cache off. Our requests in flight adapt: they start at {START} and grow towards the connections "
        "while replies stay fast; the bare loops hold every connection from the start. "
        "The server runs in its own process. Each contender ran "
        f"{args.repeat} time(s), interleaved; the row is its median run. Client CPU is the benchmark process's "
        "(`time.process_time`), server CPU the loopback's, other load the rest of the machine's busy CPU over "
        "the same wall time (well above 0 means the figures are disturbed).\n\n"
        f"```\n{command}\n```\n\n{facts}\n\n{body}\n"
    )


def write_section(path: Path, text: str, heading: str = HEADING) -> None:
    """Replace a benchmark's section of ``path`` (from its heading to the next ``## ``), keep the rest."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = old.find(heading)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + len(heading))
        new = old[:start] + text + (old[end:] if end >= 0 else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, encoding="utf-8")


async def run(args: argparse.Namespace) -> str:
    load = os.getloadavg()[0]  # the machine may be shared: the report says how busy it was
    items = (args.games + 1) // 2
    with tempfile.TemporaryDirectory(prefix="bench-openai-") as tmp:
        work = Path(tmp)
        os.environ["OVERSIGHT_CACHE_DIR"] = str(work / "cache")
        os.environ["OPENAI_API_KEY"] = "bench-key"  # never a real key from the environment or a .env file
        task_path = work / "task.jsonl"
        write_task(task_path, items)
        runs: list[list[Measurement]] = []
        requests: list[dict[str, Any]] = []
        per_game = 0
        with loopback_server(args.latency) as (url, pid):
            os.environ["OPENAI_BASE_URL"] = url
            for rep in range(args.repeat):
                # the bare loops replay exactly what our first run sent; a fresh --out each time, or it would resume
                with RequestRecorder() if rep == 0 else contextlib.nullcontext() as recorder:
                    ours, per_game = await measure_engine(
                        task_path, args.rounds, args.connections, pid, work / f"run-{rep}"
                    )
                if recorder is not None:
                    requests = [create_kwargs(body) for body in recorder.bodies]
                rows = [ours]
                for transport in get_args(Transport):
                    rows.append(await measure_bare(transport, requests, url, args.connections, pid))
                runs.append(rows)
        if runs[0][0].calls != len(requests):
            print(f"note: records count {runs[0][0].calls} calls, the HTTP client saw {len(requests)}", file=sys.stderr)
        body = table(runs, args.latency, args.connections, per_game)
        return section(args, body, 2 * items, per_game, (load, os.getloadavg()[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=2000, help="debate games (two per task item: both seatings)")
    parser.add_argument("--connections", type=int, default=256, help="max connections, ours and the bare loop's")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the server waits before each reply")
    parser.add_argument("--rounds", type=int, default=1, help="debate rounds (two debater calls each)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each contender; the median is reported")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks.md"), help="markdown file to update")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    print(report)
    write_section(args.out, report)


if __name__ == "__main__":
    main()
