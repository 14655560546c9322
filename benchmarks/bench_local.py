"""Local backends: load time, generated tokens/s at 1/4/8/16 concurrent requests, peak memory, and the share of
that throughput a real debate run gets.

Each backend is measured in its own subprocess, so peak RSS (``resource.getrusage``) belongs to that backend
alone. Prints a markdown section::

    python benchmarks/bench_local.py                  # SmolLM2 on both backends, qwen2.5-coder-1.5b on llamacpp
    python benchmarks/bench_local.py --spec local/smollm2-135m
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from oversight.models.base import BackendOptions, ChatMessage, GenerationSettings
from oversight.models.pool import ModelPool
from oversight.runner import RunConfig, execute
from oversight.tasks import load_task

SPECS = ["llamacpp/smollm2-135m", "local/smollm2-135m", "llamacpp/qwen2.5-coder-1.5b"]
LEVELS = (1, 4, 8, 16)
TOPICS = [
    "a lighthouse keeper", "a lost glove", "the first snow", "a river crossing", "an old clock", "a village market",
    "a night train", "a paper boat", "a locked garden", "a stray dog", "a mountain hut", "a broken kite",
    "a desert well", "a library ghost", "a summer storm", "a glass bottle",
]


def _stories(n: int) -> list[list[ChatMessage]]:
    return [[ChatMessage(role="user", content=f"Write a long, detailed story about {TOPICS[i % len(TOPICS)]}.")] for i in range(n)]


def _readings(n: int) -> list[list[ChatMessage]]:
    """Prompts of about 600 tokens that share no prefix with each other (no prompt-cache reuse)."""
    passages = [item.passage or "" for item in load_task("mini-stories").items]
    texts = (" ".join(passages[(i * 8 + k) % len(passages)] for k in range(8)) for i in range(n))
    return [[ChatMessage(role="user", content=f"{text}\nWho is mentioned first?")] for text in texts]


async def _rates(
    pool: ModelPool, spec: str, prompts: list[list[ChatMessage]], concurrency: int, max_tokens: int
) -> tuple[float, float]:
    """Prompt and generated tokens per second, sending ``prompts`` with ``concurrency`` requests in flight."""
    settings = GenerationSettings(max_tokens=max_tokens)
    queue = list(prompts)
    prompt_tokens = completion_tokens = 0

    async def worker() -> None:
        nonlocal prompt_tokens, completion_tokens
        while queue:
            completion = await pool.complete(spec, queue.pop(), settings)
            prompt_tokens += completion.usage.prompt_tokens
            completion_tokens += completion.usage.completion_tokens

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    return prompt_tokens / wall, completion_tokens / wall


async def _debate(spec: str, games: int, max_tokens: int, load: float) -> dict[str, float]:
    """A real one-round debate run (``execute``, as the CLI runs it) over ``games`` games, concurrency 16.

    Its wall time includes loading the model once more; the load measured just before is taken off.
    """
    with tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(
            protocol="debate",
            task="mini-stories",
            limit=games // 2,  # two seatings per item
            model=spec,
            options={"rounds": 1, "max_tokens": max_tokens},
            out=Path(tmp) / "run",
            cache=False,
            max_connections=max(LEVELS),
        )
        start = time.perf_counter()
        result = await execute(config, ["bench_local"])
        wall = time.perf_counter() - start - load
        records = result.folder.records()
    calls = [call for record in records for call in record.calls]
    return {
        "games": len(records),
        "complete": sum(r.status == "complete" for r in records),
        "prompt_tokens": sum(c.usage.prompt_tokens for c in calls),
        "completion_tokens": sum(c.usage.completion_tokens for c in calls),
        "wall": wall,
    }


async def measure(spec: str, max_tokens: int, games: int) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    pool = ModelPool(BackendOptions(max_connections=max(LEVELS)))  # no response cache: every call is generated
    try:
        start = time.perf_counter()
        await pool.complete(spec, [ChatMessage(role="user", content="Hi")], GenerationSettings(max_tokens=1))
        load = time.perf_counter() - start
        # two waves per level (at least 4 requests), so one slow request does not decide the figure
        tps = {c: (await _rates(pool, spec, _stories(max(2 * c, 4)), c, max_tokens))[1] for c in LEVELS}
        prefill = (await _rates(pool, spec, _readings(2 * max(LEVELS)), max(LEVELS), 1))[0]
    finally:
        await pool.aclose()
    debate = await _debate(spec, games, max_tokens, load) if games else None
    if debate:
        # the time a backend kept fully busy would need for the run's tokens: its share of the wall time shows
        # how well the orchestrator fed the backend (turns within a game wait for each other)
        busy = debate["prompt_tokens"] / prefill + debate["completion_tokens"] / tps[max(LEVELS)]
        debate["share"] = busy / debate["wall"]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    # other work on the machine shows up here: the figures are only as good as the machine was idle
    system_load = f"{load_before:.1f} / {os.getloadavg()[0]:.1f}"
    return {
        "spec": spec, "load": load, "tps": tps, "prefill": prefill, "peak_mb": peak_mb, "debate": debate,
        "system_load": system_load,
    }


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _markdown(results: list[dict[str, Any]], command: str, max_tokens: int) -> str:
    top = max(LEVELS)
    lines = [
        "## Local backends",
        "",
        f"Command: `{command}`",
        "",
        (
            f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
            f"xllamacpp {_version('xllamacpp')}, torch {_version('torch')}, transformers {_version('transformers')}."
        ),
        "",
        "- **load**: the first one-token request (weights, server start, warm-up).",
        (
            f"- **tok/s @N**: generated tokens over wall time with N requests in flight, each asking for a long "
            f"story and stopping at {max_tokens} tokens; two waves of N requests (at least 4)."
        ),
        f"- **prefill**: prompt tokens/s, {top} prompts of ~600 tokens in flight, one token generated each.",
        (
            f"- **debate run**: `execute()` of a one-round debate ({max_tokens}-token turns, {top} connections) "
            "minus the load time; **busy share** = (prompt tokens / prefill + generated tokens / tok/s "
            f"@{top}) / wall time: how much of the time the orchestrator kept the backend as busy as it can be."
        ),
        "- **load avg**: the machine's 1-minute load average before / after (this benchmark itself adds about 2).",
        "",
        (
            "| backend | load (s) | peak RSS (MB) | "
            + " | ".join(f"tok/s @{c}" for c in LEVELS)
            + " | prefill tok/s | debate run | busy share | load avg |"
        ),
        "|---|---:|---:|" + "---:|" * len(LEVELS) + "---:|---|---:|---:|",
    ]
    for r in results:
        tps = " | ".join(f"{r['tps'][str(c)]:.1f}" for c in LEVELS)
        debate, share = "-", "-"
        if d := r["debate"]:
            debate = (
                f"{d['complete']}/{d['games']} games, {d['wall']:.0f} s, "
                f"{d['prompt_tokens']:,} + {d['completion_tokens']:,} tokens"
            )
            share = f"{d['share']:.0%}"
        lines.append(
            f"| `{r['spec']}` | {r['load']:.1f} | {r['peak_mb']:,.0f} | {tps} | {r['prefill']:.0f} | {debate} | {share} "
            f"| {r['system_load']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", action="append", help="backend spec to measure (repeatable; default: all three)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--games", type=int, default=16, help="debate games for the run share (0: skip)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        # a debate per model on small ones only: on the 1.5B model it would take as long as the sweep again
        games = args.games if "smollm2" in args.child else 0
        print(json.dumps(asyncio.run(measure(args.child, args.max_tokens, games))))
        return
    results = []
    for spec in args.spec or SPECS:
        child = [sys.executable, __file__, "--child", spec, "--max-tokens", str(args.max_tokens), "--games", str(args.games)]
        print(f"measuring {spec} …", file=sys.stderr, flush=True)
        out = subprocess.run(child, check=True, stdout=subprocess.PIPE, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    print(_markdown(results, " ".join(["python", "benchmarks/bench_local.py", *sys.argv[1:]]), args.max_tokens))


if __name__ == "__main__":
    main()
