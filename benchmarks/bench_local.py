"""Local backends: load time, generated tokens/s at 1/4/8/16 concurrent requests, peak memory, the share of
that throughput a real debate run gets, and that run's prompt tokens: sent, computed, reused from the backend's
prompt cache, and the unique-token floor (its games' distinct text, tokenised once).

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
import urllib.request
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from oversight.models import create_backend
from oversight.models.base import BackendOptions, ChatMessage, GenerationSettings, ModelBackend
from oversight.models.pool import ModelPool
from oversight.records import GameRecord, UsageTotals
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
            _, completion = await pool.call(spec, queue.pop(), settings)
            prompt_tokens += completion.usage.prompt_tokens
            completion_tokens += completion.usage.completion_tokens

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    return prompt_tokens / wall, completion_tokens / wall


def _distinct_texts(record: GameRecord, passages: dict[str, str]) -> list[str]:
    """The text a game is made of, each piece once: passage, question, choices, and every turn."""
    turns = [turn.content for turn in record.turns]
    return [passages.get(record.item_id, ""), record.question, *record.choices, *turns]


def _token_counter(backend: ModelBackend) -> Callable[[str], int]:
    """Tokens of a text by the model's own tokenizer, without special tokens: llama.cpp's ``/tokenize``, or the
    transformers tokenizer the local backend loaded."""
    if backend.provider == "llamacpp":
        url = backend.endpoints()[0].removesuffix("/v1") + "/tokenize"

        def count(text: str) -> int:
            body = json.dumps({"content": text, "add_special": False}).encode()
            request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request) as response:
                return len(json.load(response)["tokens"])

        return count
    tokenizer = backend._tokenizer  # type: ignore[attr-defined]
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False))


async def _floor(spec: str, games: list[list[str]]) -> int:
    """The unique-token floor of a run: per game, the tokens of its distinct text, summed over the games; what a
    backend that computed no token twice within a game would still compute (templates' own words left out)."""
    backend = create_backend(spec, BackendOptions())
    try:
        await backend.start()
        count = _token_counter(backend.backend)
        return sum(count(text) for texts in games for text in texts if text)
    finally:
        await backend.aclose()


async def _debate(spec: str, games: int, max_tokens: int, load: float) -> dict[str, Any]:
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
    usage = UsageTotals()  # as summary.json sums it
    for call in (call for record in records for call in record.calls):
        usage.add(call)
    passages = {item.id: item.passage or "" for item in load_task("mini-stories").items}
    return {
        "games": len(records),
        "complete": sum(r.status == "complete" for r in records),
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "calls": usage.calls,
        "reuse_reported_calls": usage.reuse_reported_calls,
        "cached_prompt_tokens": usage.cached_prompt_tokens,
        "computed_prompt_tokens": usage.computed_prompt_tokens,
        "wall": wall,
        "distinct": [_distinct_texts(record, passages) for record in records],
    }


async def measure(spec: str, max_tokens: int, games: int) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    pool = ModelPool(BackendOptions(max_connections=max(LEVELS)))  # no response cache: every call is generated
    try:
        start = time.perf_counter()
        await pool.call(spec, [ChatMessage(role="user", content="Hi")], GenerationSettings(max_tokens=1))
        load = time.perf_counter() - start
        # two waves per level (at least 4 requests), so one slow request does not decide the figure
        tps = {c: (await _rates(pool, spec, _stories(max(2 * c, 4)), c, max_tokens))[1] for c in LEVELS}
        prefill = (await _rates(pool, spec, _readings(2 * max(LEVELS)), max(LEVELS), 1))[0]
    finally:
        await pool.aclose()
    debate = await _debate(spec, games, max_tokens, load) if games else None
    if debate:
        # the time a backend kept fully busy would need for the run's tokens: its share of the wall time shows
        # how well the orchestrator fed the backend (turns within a game wait for each other); prompt tokens it
        # reused from its prompt cache cost it next to nothing, so they are left out
        computed = debate["prompt_tokens"] - debate["cached_prompt_tokens"]
        busy = computed / prefill + debate["completion_tokens"] / tps[max(LEVELS)]
        debate["share"] = busy / debate["wall"]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    if debate:
        # the model once more, for its tokenizer only: after the peak memory is read, so that stays the run's
        debate["floor"] = await _floor(spec, debate.pop("distinct"))
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
            "minus the load time; **busy share** = (prompt tokens computed / prefill + generated tokens / tok/s "
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
    debates = [r for r in results if r["debate"]]
    if debates:
        lines += [
            "",
            "Prompt tokens of the debate run:",
            "",
            "- **sent**: prompt tokens of every call; **computed** / **reused**: of the calls whose backend says "
            "(llama.cpp's `timings`, the transformers backend's own count: it reuses none), those it computed and "
            "those it took from its prompt cache; **reported** = such calls / all calls.",
            "- **floor**: the unique-token floor, per game the tokens of its distinct text (passage, question, "
            "choices, every turn) counted once, by the model's tokenizer, summed over the games.",
            "",
            "| backend | sent | computed | reused | reported | floor | sent / floor | computed / floor |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in debates:
            d = r["debate"]
            reported = d["reuse_reported_calls"]
            computed, reused = "-", "-"
            if reported:
                computed, reused = f"{d['computed_prompt_tokens']:,}", f"{d['cached_prompt_tokens']:,}"
            per_floor = f"{d['computed_prompt_tokens'] / d['floor']:.1f}×" if reported and d["floor"] else "-"
            sent_floor = f"{d['prompt_tokens'] / d['floor']:.1f}×" if d["floor"] else "-"
            lines.append(
                f"| `{r['spec']}` | {d['prompt_tokens']:,} | {computed} | {reused} | {reported}/{d['calls']} "
                f"| {d['floor']:,} | {sent_floor} | {per_floor} |"
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
        # no debate on the 1.5B model: it would take as long as the sweep again
        games = 0 if "1.5b" in args.child else args.games
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
