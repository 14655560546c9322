"""Debate games against a loopback OpenAI-compatible server: our wall time next to a bare ``openai``-SDK loop.

One invocation starts ``python -m oversight.loopback`` in its own process (so the server's CPU is not the
client's), then measures, against that one server:

(a) ``oversight.runner.execute`` playing N debate games (``openai/debater`` × 2, ``openai/judge``, no cache);
(b) a bare ``AsyncOpenAI`` loop making the same requests, at most C in flight, on the SDK's aiohttp transport;
(b') the same loop on the SDK's default httpx transport, for reference;
(c) the latency ideal, calls × latency ÷ C, and the chain-aware ideal, which also allows for each game's calls
    being a sequential chain: max(calls × latency ÷ C, calls per game × latency);
(d) client CPU per call (``time.process_time`` of this process ÷ calls) and the server's, from ``/proc``.

The bare loop sends exactly the messages a debate game sends: they are recorded by playing the same games
in-process with the scripted policies the loopback server answers with.

    python benchmarks/bench_openai.py --games 2000 --connections 256 --latency 0.2 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from pathlib import Path
from typing import Any, Literal

import httpx2
import openai

from oversight.models.base import BackendOptions, ChatMessage, Completion, GenerationSettings
from oversight.models.pool import ModelPool
from oversight.prompts import PromptLibrary
from oversight.protocol import PROTOCOLS, GameContext, ProtocolOptions
from oversight.runner import RunConfig, execute
from oversight.tasks.loading import load_task_file
from oversight.tasks.stories import mini_stories

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
    calls: int
    failed: int


# --- the loopback server, in its own process ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of another process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def loopback_server(latency: float) -> Iterator[tuple[str, int]]:
    """Yield (base URL, pid) of a loopback server that answers every chat request after ``latency`` seconds."""
    port = _free_port()
    command = [sys.executable, "-m", "oversight.loopback", "--port", str(port), "--latency", str(latency)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"loopback server exited with {server.returncode}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=1):
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
    """A task file of ``items`` generated stories (debate plays each item twice, once per seating)."""
    rows = (item.model_dump_json(exclude={"meta"}) for item in mini_stories(seed=0, size=items).items)
    path.write_text("".join(row + "\n" for row in rows), encoding="utf-8")


class _RecordingPool(ModelPool):
    """Plays games on the scripted policies (the ones the loopback server answers with), noting each request."""

    def __init__(self) -> None:
        super().__init__(BackendOptions())
        self.requests: list[dict[str, Any]] = []

    async def complete(
        self, spec: str, messages: list[ChatMessage], settings: GenerationSettings, sample: int = 0
    ) -> Completion:
        name = spec.split("/", 1)[1]
        request: dict[str, Any] = {
            "model": name,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
        }
        if settings.logprobs:
            request |= {"logprobs": True, "top_logprobs": settings.top_logprobs or 5}
        self.requests.append(request)
        return await super().complete(f"scripted/{name}", messages, settings, sample)


async def debate_requests(task_path: Path, rounds: int) -> tuple[list[dict[str, Any]], int]:
    """Every chat request the debate games on this task make, in order, and the most calls one game makes."""
    protocol = PROTOCOLS.get("debate")(ProtocolOptions(rounds=rounds))
    task = load_task_file(task_path)
    pool, prompts = _RecordingPool(), PromptLibrary()
    per_game = 0
    for setup in protocol.setups(task.name, task.items):
        before = len(pool.requests)
        await protocol.play(setup, GameContext("debate", ROLES, pool, prompts))
        per_game = max(per_game, len(pool.requests) - before)
    return pool.requests, per_game


# --- the three measurements ------------------------------------------------------------------------------


async def measure_engine(task_path: Path, rounds: int, connections: int, server_pid: int, out: Path) -> Measurement:
    config = RunConfig(
        protocol="debate",
        task=str(task_path),
        roles=ROLES,
        options=ProtocolOptions(rounds=rounds),
        max_connections=connections,
        cache=False,
        out=out,
        timeout=TIMEOUT,
    )
    server0, cpu0, t0 = _process_cpu(server_pid), time.process_time(), time.perf_counter()
    result = await execute(config, ["bench_openai"])
    wall, cpu, server = time.perf_counter() - t0, time.process_time() - cpu0, _process_cpu(server_pid) - server0
    records = result.folder.records()
    calls = sum(len(r.calls) for r in records)
    failed = sum(r.status != "complete" for r in records)
    return Measurement("oversight `execute` (debate)", wall, cpu, server, calls, failed)


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

    server0, cpu0, t0 = _process_cpu(server_pid), time.process_time(), time.perf_counter()
    outcomes = await asyncio.gather(*(call(r) for r in requests), return_exceptions=True)
    wall, cpu, server = time.perf_counter() - t0, time.process_time() - cpu0, _process_cpu(server_pid) - server0
    await client.close()
    failed = sum(isinstance(o, BaseException) for o in outcomes)
    return Measurement(f"bare SDK loop, {transport} transport", wall, cpu, server, len(requests), failed)


# --- report ----------------------------------------------------------------------------------------------


def table(rows: list[Measurement], latency: float, connections: int, per_game: int) -> str:
    reference = rows[1].wall  # the bare loop on the transport our backend uses
    calls = rows[0].calls
    ideal = calls * latency / connections
    chained = max(ideal, per_game * latency)
    lines = [
        "| | wall s | calls | calls/s | vs bare aiohttp | client CPU ms/call | server CPU ms/call | failed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in rows:
        n = max(m.calls, 1)
        lines.append(
            f"| {m.label} | {m.wall:.2f} | {m.calls} | {m.calls / m.wall:.0f} | {m.wall / reference:.2f}× "
            f"| {1000 * m.client_cpu / n:.2f} | {1000 * m.server_cpu / n:.2f} | {m.failed} |"
        )
    lines.append(f"| latency ideal: calls × {latency:g} s ÷ {connections} | {ideal:.2f} | {calls} | {calls / ideal:.0f} "
                 f"| {ideal / reference:.2f}× | | | |")
    lines.append(f"| chain-aware ideal: max(that, {per_game} calls/game × {latency:g} s) | {chained:.2f} | {calls} "
                 f"| {calls / chained:.0f} | {chained / reference:.2f}× | | | |")
    return "\n".join(lines)


def section(args: argparse.Namespace, body: str, games: int, per_game: int) -> str:
    command = "python benchmarks/bench_openai.py " + " ".join(
        f"--{k} {shlex.quote(str(v))}" for k, v in vars(args).items() if k != "out"
    )
    cpus = os.cpu_count()
    facts = (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {cpus} cores ({platform.processor() or platform.machine()}) · "
        f"{platform.system()} · Python {platform.python_version()} · openai {openai.__version__}"
    )
    return (
        f"{HEADING}\n\n"
        f"{games} debate games ({args.rounds} round(s); up to {per_game} calls per game: "
        f"{2 * args.rounds} debater turns, then the judge), {args.connections} connections, "
        f"{args.latency:g} s server latency, response cache off. The server runs in its own process; "
        "client CPU is this process's, server CPU the loopback's.\n\n"
        f"```\n{command}\n```\n\n{facts}\n\n{body}\n"
    )


def write_section(path: Path, text: str) -> None:
    """Replace this benchmark's section of ``path`` (from its heading to the next ``## ``), keep the rest."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = old.find(HEADING)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + len(HEADING))
        new = old[:start] + text + (old[end:] if end >= 0 else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, encoding="utf-8")


async def run(args: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-openai-") as tmp:
        work = Path(tmp)
        os.environ["OVERSIGHT_CACHE_DIR"] = str(work / "cache")
        os.environ["OPENAI_API_KEY"] = "bench-key"  # never a real key from the environment or a .env file
        task_path = work / "task.jsonl"
        write_task(task_path, (args.games + 1) // 2)
        requests, per_game = await debate_requests(task_path, args.rounds)
        with loopback_server(args.latency) as (url, pid):
            os.environ["OPENAI_BASE_URL"] = url
            rows = [await measure_engine(task_path, args.rounds, args.connections, pid, work / "run")]
            for transport in ("aiohttp", "httpx"):
                rows.append(await measure_bare(transport, requests, url, args.connections, pid))
        if rows[0].calls != len(requests):
            print(f"note: the engine made {rows[0].calls} calls, the bare loops {len(requests)}", file=sys.stderr)
        return section(args, table(rows, args.latency, args.connections, per_game), 2 * ((args.games + 1) // 2), per_game)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=2000, help="debate games (two per task item: both seatings)")
    parser.add_argument("--connections", type=int, default=256, help="max connections, ours and the bare loop's")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the server waits before each reply")
    parser.add_argument("--rounds", type=int, default=1, help="debate rounds (two debater calls each)")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks.md"), help="markdown file to update")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    print(report)
    write_section(args.out, report)


if __name__ == "__main__":
    main()
