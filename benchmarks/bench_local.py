"""Local backends: load time, generated tokens/s at 1/4/8/16 concurrent requests, peak memory, the share of
that throughput a real debate run gets, and that run's prompt tokens: sent, computed, reused from the backend's
prompt cache, and the unique-token floor (its games' distinct text, tokenised once).

Each backend is measured in its own subprocess, so peak RSS (``resource.getrusage``) belongs to that backend
alone. With ``--before REV`` the same debate run is also played by that commit (a ``git worktree``, first on
``PYTHONPATH``, through its own CLI, on this checkout's task written to a file so both play the same items); the
prompt tokens llama.cpp computed are counted from each reply's ``timings.prompt_n``, which commits before the usage
fields did not record. Prints a markdown section::

    python benchmarks/bench_local.py                  # SmolLM2 on both backends, qwen2.5-coder-1.5b on llamacpp
    python benchmarks/bench_local.py --spec local/smollm2-135m
    python benchmarks/bench_local.py --spec llamacpp/qwen2.5-coder-0.5b --before 0dc998a
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from earlier import earlier_checkout, write_task

from oversight.models import create_backend
from oversight.models.base import BackendOptions, ChatMessage, GenerationSettings, ModelBackend
from oversight.models.pool import ModelPool
from oversight.records import UsageTotals
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


def _distinct_texts(record: dict[str, Any], passages: dict[str, str]) -> list[str]:
    """The text a game is made of, each piece once: passage, question, choices, and every turn (from a record as
    written to the log, by any commit)."""
    turns = [turn["content"] for turn in record["turns"]]
    return [passages.get(record["item_id"], ""), record["question"], *record["choices"], *turns]


def _span(records: list[dict[str, Any]]) -> float:
    """Seconds from the first game's start to the last game's end: the run's time without loading the model."""
    starts = [datetime.fromisoformat(r["started_at"]) for r in records]
    ends = [datetime.fromisoformat(r["finished_at"]) for r in records]
    return (max(ends) - min(starts)).total_seconds()


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


async def _debate(spec: str, games: int, max_tokens: int) -> dict[str, Any]:
    """A real one-round debate run (``execute``, as the CLI runs it) over ``games`` games, concurrency 16; its wall
    time runs from the first game's start to the last one's end."""
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
        result = await execute(config, ["bench_local"])
        records = result.folder.records()
    logged = [record.model_dump(mode="json") for record in records]
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
        "wall": _span(logged),
        "distinct": [_distinct_texts(record, passages) for record in logged],
    }


def _share(debate: dict[str, Any], prefill: float, decode: float) -> float:
    """The time a backend kept fully busy would need for the run's tokens, over the run's wall time: how well the
    orchestrator fed the backend (turns within a game wait for each other). Prompt tokens the backend reused from
    its prompt cache cost it next to nothing, so only those it computed count."""
    return (debate["computed_prompt_tokens"] / prefill + debate["completion_tokens"] / decode) / debate["wall"]


#: run as ``python -c`` with an earlier commit first on the import path: its own CLI plays the run, and the prompt
#: tokens llama.cpp says it computed (``timings.prompt_n`` of each chat completion) are counted into a JSON file
_COUNTING_DRIVER = """
import json, runpy, sys
import openai

counted = {"said": 0, "computed": 0}
post = openai.AsyncOpenAI.post

async def counting(self, path, *args, **kwargs):
    response = await post(self, path, *args, **kwargs)
    timings = (getattr(response, "model_extra", None) or {}).get("timings") or {}
    if "prompt_n" in timings:
        counted["said"] += 1
        counted["computed"] += timings["prompt_n"]
    return response

openai.AsyncOpenAI.post = counting
out, sys.argv = sys.argv[1], ["oversight", *sys.argv[2:]]
code = 0
try:
    runpy.run_module("oversight", run_name="__main__", alter_sys=True)
except SystemExit as stop:
    code = stop.code or 0
with open(out, "w") as f:
    json.dump(counted, f)
sys.exit(code)
"""


def _before_debate(spec: str, games: int, max_tokens: int, source: Path, task: Path) -> dict[str, Any]:
    """The same debate run as :func:`_debate`, played by the checkout at ``source`` through its own CLI."""
    with tempfile.TemporaryDirectory() as tmp:
        run, counts = Path(tmp) / "run", Path(tmp) / "counted.json"
        argv = [
            sys.executable, "-c", _COUNTING_DRIVER, str(counts), "run", "debate", "--task", str(task),
            "--limit", str(games // 2), "--model", spec, "--rounds", "1", "--set", f"max_tokens={max_tokens}",
            "--no-cache", "--max-connections", str(max(LEVELS)), "--out", str(run),
        ]
        done = subprocess.run(argv, env={**os.environ, "PYTHONPATH": str(source)}, capture_output=True, text=True)
        if done.returncode not in (0, 3):  # 3: some games failed, which the figures show
            sys.exit(f"{spec} at {source}: exit {done.returncode}\n{done.stderr[-2000:]}")
        records = [json.loads(line) for line in (run / "transcripts.jsonl").open(encoding="utf-8")]
        counted = json.loads(counts.read_text())
    calls = [call for record in records for call in record["calls"]]
    sent = sum(call["usage"]["prompt_tokens"] for call in calls)
    if spec.startswith("llamacpp/"):
        reported, computed = counted["said"], counted["computed"]
    else:  # the transformers backend kept no key/values between calls: it computed every prompt in full
        reported, computed = len(calls), sent
    passages = {item.id: item.passage or "" for item in load_task(str(task)).items}
    return {
        "games": len(records),
        "complete": sum(r["status"] == "complete" for r in records),
        "prompt_tokens": sent,
        "completion_tokens": sum(call["usage"]["completion_tokens"] for call in calls),
        "calls": len(calls),
        "reuse_reported_calls": reported,
        "cached_prompt_tokens": sent - computed,
        "computed_prompt_tokens": computed,
        "wall": _span(records),
        "distinct": [_distinct_texts(record, passages) for record in records],
    }


async def measure(
    spec: str, max_tokens: int, games: int, before: tuple[str, Path, Path] | None = None
) -> dict[str, Any]:
    """The sweep and the debate run of one backend; with ``before`` (the commit's name, its checkout and the task
    file), the debate run once more at that commit."""
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
    debate = await _debate(spec, games, max_tokens) if games else None
    if debate:
        debate["share"] = _share(debate, prefill, tps[max(LEVELS)])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    earlier = None
    if debate and before:
        earlier = _before_debate(spec, games, max_tokens, before[1], before[2])
        earlier["share"] = _share(earlier, prefill, tps[max(LEVELS)])
        earlier["commit"] = before[0]
    for run in (debate, earlier):
        if run:
            # the model once more, for its tokenizer only: after the peak memory is read, so that stays the run's
            run["floor"] = await _floor(spec, run.pop("distinct"))
    # other work on the machine shows up here: the figures are only as good as the machine was idle
    system_load = f"{load_before:.1f} / {os.getloadavg()[0]:.1f}"
    return {
        "spec": spec, "load": load, "tps": tps, "prefill": prefill, "peak_mb": peak_mb, "debate": debate,
        "before": earlier, "system_load": system_load,
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
            f"- **debate run**: `execute()` of a one-round debate ({max_tokens}-token turns, {top} connections), "
            "first game's start to last game's end; **busy share** = (prompt tokens computed / prefill + generated tokens / tok/s "
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
            "Prompt tokens of the debate run, and with `--before` the same run played by an earlier commit:",
            "",
            "- **sent**: prompt tokens of every call; **computed** / **reused**: of the calls whose backend says "
            "(llama.cpp's `timings`; the transformers backend's own count, which before it kept key/values was "
            "every prompt token), those it computed and those it took from its prompt cache; **reported** = such "
            "calls / all calls.",
            "- **floor**: the unique-token floor, per game the tokens of its distinct text (passage, question, "
            "choices, every turn) counted once, by the model's tokenizer, summed over the games.",
            "- **wall**: first game's start to last game's end, from the records; **busy share** as above, with "
            "this checkout's measured rates.",
            "",
            "| backend | commit | sent | computed | reused | reported | floor | sent / floor | computed / floor "
            "| generated | wall (s) | busy share |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in debates:
            for d in (r["before"], r["debate"]):
                if not d:
                    continue
                reported = d["reuse_reported_calls"]
                computed, reused = "-", "-"
                if reported:
                    computed, reused = f"{d['computed_prompt_tokens']:,}", f"{d['cached_prompt_tokens']:,}"
                per_floor = f"{d['computed_prompt_tokens'] / d['floor']:.2f}×" if reported and d["floor"] else "-"
                sent_floor = f"{d['prompt_tokens'] / d['floor']:.2f}×" if d["floor"] else "-"
                lines.append(
                    f"| `{r['spec']}` | {d.get('commit', 'this checkout')} | {d['prompt_tokens']:,} | {computed} "
                    f"| {reused} | {reported}/{d['calls']} | {d['floor']:,} | {sent_floor} | {per_floor} "
                    f"| {d['completion_tokens']:,} | {d['wall']:.1f} | {d['share']:.0%} |"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", action="append", help="backend spec to measure (repeatable; default: all three)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--games", type=int, default=16, help="debate games for the run share (0: skip)")
    parser.add_argument("--before", help="an earlier commit to play the debate run too")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--before-source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--task-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        # no debate on the 1.5B model: it would take as long as the sweep again
        games = 0 if "1.5b" in args.child else args.games
        before = (args.before, args.before_source, args.task_file) if args.before else None
        print(json.dumps(asyncio.run(measure(args.child, args.max_tokens, games, before))))
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-local-") as tmp, contextlib.ExitStack() as stack:
        extra: list[str] = []
        if args.before:
            source = stack.enter_context(earlier_checkout(args.before, Path(tmp) / "before"))
            task = write_task("mini-stories", 0, Path(tmp) / "mini-stories.jsonl")
            extra = ["--before", args.before, "--before-source", str(source), "--task-file", str(task)]
        for spec in args.spec or SPECS:
            child = [sys.executable, __file__, "--child", spec, "--max-tokens", str(args.max_tokens),
                     "--games", str(args.games), *extra]
            print(f"measuring {spec} …", file=sys.stderr, flush=True)
            out = subprocess.run(child, check=True, stdout=subprocess.PIPE, text=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
    print(_markdown(results, " ".join(["python", "benchmarks/bench_local.py", *sys.argv[1:]]), args.max_tokens))


if __name__ == "__main__":
    main()
