"""``local/<path-or-alias>``: HuggingFace transformers in this process, on CUDA when present, else the CPU.

The model is a model folder (safetensors), a GGUF file (dequantised by transformers on load) or an alias
(assembled by :mod:`oversight.weights`). Requests from concurrent games are batched dynamically: whatever
arrives within a few milliseconds, up to ``?batch=N``, becomes one left-padded ``generate`` on a single worker
thread, so the event loop stays free. Only requests with the same sampling settings share a batch, and greedy
outputs equal one-at-a-time outputs (each row is cut at its own end of sequence and ``max_tokens``). With
``logprobs`` set, each token comes with its log-probability and the top alternatives from the raw logits.
A batch that runs out of memory halves the batch size, and its calls are tried again, with backoff, as every
backend's transient failures are (:mod:`oversight.models.reliable`); any other failure fails its calls. torch
and transformers are imported on first use, on the worker thread.

Prompts share long prefixes (a debater's system prompt, passage and question in both seatings of an item and in
every round; a later round's transcript repeats the earlier one's), so the key/values of recent prompts are kept,
least recently used dropped first, within ``?prefix_cache=MB`` of memory (default 1024; ``0`` turns reuse off). A
prompt that starts with at least ``MIN_PREFIX`` tokens of a kept one starts from their key/values and computes only
the rest; a prefix that several prompts of one batch share, and none kept, is computed once before the batch when
that costs less than computing it in every row. In the batch each row's reused key/values sit in the cache
columns and its remaining tokens after them, each part padded on the left, the mask hiding both gaps: rows with
and without reuse still share one ``generate``. A call's usage says how many of its prompt tokens came from the
store (``cached_prompt_tokens``; a prefix computed once for a batch counts as computed for the first call that
uses it, as reused for the others). Reuse changes the floats in their last bits only; greedy outputs equal a fresh
computation's in the tests, as batching's do. A model whose cache is not one plain key/value pair per layer
(sliding windows, recurrent state) reuses nothing.

``?adapter=FOLDER`` loads a LoRA adapter (peft's format, e.g. a run's ``distilled-K/``) onto the model and merges
it into the weights; the adapter's weights are part of the model's identity in the response cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import inspect
from collections import Counter, OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

from oversight.errors import FatalRunError, UserError
from oversight.models.base import (
    LOCAL_MIN_TIMEOUT,
    BackendOptions,
    Completion,
    GenerationSettings,
    ModelBackend,
    ModelCallError,
    ModelSpec,
    Request,
    TokenLogprob,
    TopLogprob,
    Usage,
    shared_prefix,
)
from oversight.models.retry import Failure
from oversight.weights import ALIASES, resolve_gguf

MAX_BATCH = 16
#: how long the first request of a batch waits for others; tiny next to the seconds one generate takes
GATHER_WAIT = 0.005
DEFAULT_TOP_LOGPROBS = 5
#: how torch (CUDA or CPU allocator) says a batch did not fit
_OOM_MESSAGES = ("out of memory", "can't allocate memory")
#: shortest prefix worth reusing: a shorter one saves less than laying out its key/values costs
MIN_PREFIX = 64
#: memory kept for prompts' key/values (``?prefix_cache=MB``); a SmolLM2-135M token costs 45 KiB in float32
PREFIX_CACHE_MB = 1024


@dataclass
class _Job:
    prompt: tuple[int, ...]
    settings: GenerationSettings
    future: asyncio.Future[Completion]


@dataclass
class _Prefix:
    """A prompt's key/values, kept for later prompts that start with the same tokens."""

    tokens: tuple[int, ...]
    #: per layer (keys, values), each ``[1, heads, len(tokens), head_dim]``
    layers: list[tuple[Any, Any]]
    nbytes: int


@dataclass
class _Row:
    """One row of a forward pass: its tokens, the first ``reused`` of them taken from ``prefix``."""

    tokens: tuple[int, ...]
    prefix: _Prefix | None = None
    reused: int = 0


class _PrefixStore:
    """Prompts' key/values, least recently used dropped first once they take more than ``budget`` bytes."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.nbytes = 0
        self._entries: OrderedDict[tuple[int, ...], _Prefix] = OrderedDict()

    def lookup(self, tokens: tuple[int, ...], limit: int) -> tuple[_Prefix | None, int]:
        """The entry sharing the longest prefix with ``tokens`` and that length (at most ``limit``); (None, 0) when
        none shares ``MIN_PREFIX`` tokens."""
        best, length, head = None, 0, tokens[:limit]
        for entry in self._entries.values():
            shared = shared_prefix(entry.tokens, head)
            if shared > length:
                best, length = entry, shared
        if best is None or length < MIN_PREFIX:
            return None, 0
        self._entries.move_to_end(best.tokens)
        return best, length

    def add(self, entry: _Prefix) -> None:
        """Keep ``entry``, dropping the entries it begins with (it serves their prompts too), then the least
        recently used ones while over budget; an entry that begins a kept one is not kept again."""
        n = len(entry.tokens)
        for tokens in list(self._entries):
            if len(tokens) >= n and tokens[:n] == entry.tokens:
                self._entries.move_to_end(tokens)
                return
            if tokens == entry.tokens[: len(tokens)]:
                self.nbytes -= self._entries.pop(tokens).nbytes
        self._entries[entry.tokens] = entry
        self.nbytes += entry.nbytes
        while self.nbytes > self.budget:  # the new entry last, if it alone is over budget
            self.nbytes -= self._entries.popitem(last=False)[1].nbytes


def _prefill_pays(rows: list[_Row], shared: list[_Row]) -> bool:
    """Whether computing the ``shared`` prefixes first (one forward pass) and then ``rows`` from them computes
    fewer padded positions than ``rows`` alone: a batch pays for its widest row in every row. The prefixes are
    kept either way once the batch is done, so only this batch's cost decides."""
    if not shared:
        return False
    alone = len(rows) * max(len(row.tokens) - row.reused for row in rows)
    first = len(shared) * max(len(prefix.tokens) - prefix.reused for prefix in shared)

    def left(row: _Row) -> int:
        longest = max((len(p.tokens) for p in shared if row.tokens[: len(p.tokens)] == p.tokens), default=0)
        return len(row.tokens) - max(row.reused, longest)

    return first + len(rows) * max(map(left, rows)) < alone


def _batch_key(settings: GenerationSettings) -> tuple[Any, ...]:
    """Requests with equal keys decode the same way and may share a batch (max_tokens is per row).

    Logprob requests batch apart: keeping every step's logits costs batch × vocabulary floats per token, fine
    for short judge answers, not for long turns that happen to share their batch.
    """
    if settings.temperature == 0:  # greedy decoding ignores the sampling knobs
        return (settings.logprobs, 0.0, None, None, settings.stop)
    return (settings.logprobs, settings.temperature, settings.top_p, settings.seed, settings.stop)


def _out_of_memory(exc: BaseException) -> bool:
    """The one failure worth another attempt here: the batch that hit it is halved, so the retry fits better."""
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc) for m in _OOM_MESSAGES)


def resolve_weights(name: str) -> tuple[Path, str | None, dict[str, Any]]:
    """A ``local/`` model name as (folder, GGUF file name or None, identity for the response cache); UserError
    for a name that is no folder, GGUF file or alias."""
    folder = Path(name).expanduser()
    if folder.is_dir():
        return folder, None, {"path": str(folder.resolve())}
    if name not in ALIASES and not folder.is_file():
        raise UserError(f"{folder}: no such model folder or GGUF file, nor a model alias ({', '.join(ALIASES)})")
    gguf = resolve_gguf(name)  # a corrupt alias or a file that is not GGUF: fail before the run starts
    alias = ALIASES.get(name)
    identity = {"sha256": alias.sha256} if alias else {"path": str(gguf.resolve()), "size": gguf.stat().st_size}
    return gguf.parent, gguf.name, identity


def adapter_folder(spec: ModelSpec) -> Path | None:
    """The LoRA adapter folder a spec names with ``?adapter=``; UserError when it holds no adapter."""
    if "adapter" not in spec.params:
        return None
    folder = Path(spec.params["adapter"]).expanduser()
    if not (folder / "adapter_config.json").is_file():
        raise UserError(f"model spec {spec.raw!r}: {folder} holds no LoRA adapter (no adapter_config.json)")
    return folder


def adapter_identity(folder: Path) -> str:
    """sha256 of the adapter's weights and config: two adapters never share cached responses."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("adapter_*")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_pretrained(folder: Path, gguf_file: str | None) -> tuple[Any, Any]:
    """(tokenizer, model) from local files only, on CUDA in half precision when present, else the CPU in float32;
    FatalRunError with one line when transformers cannot load them or the tokenizer has no chat template."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # the run's own progress line says what is loading
    cuda = torch.cuda.is_available()
    dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
    # local_files_only: a folder or file on disk, never the model hub
    kwargs: dict[str, Any] = {"local_files_only": True}
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    where = folder / gguf_file if gguf_file else folder
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, **kwargs)
    except Exception as exc:  # whatever transformers raises for a bad model, the run gets one line
        reason = next(iter(str(exc).splitlines()), type(exc).__name__)
        raise FatalRunError(f"{where}: transformers could not load this model: {reason}") from None
    if not tokenizer.chat_template:
        raise FatalRunError(f"{where}: the tokenizer has no chat template, so chat messages cannot be encoded")
    return tokenizer, model.to("cuda" if cuda else "cpu")


def _plain_cache(model: Any) -> bool:
    """Whether ``model`` keeps one growing key/value tensor pair per layer, the only cache whose rows can be laid
    out side by side and cut at any token (not sliding windows, not recurrent state)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    # a private method of transformers' models: a release without it leaves reuse off rather than failing the load
    supports = getattr(model, "_supports_default_dynamic_cache", None)
    if supports is None or not supports():
        return False
    cache = DynamicCache(config=model.config.get_text_config(decoder=True))
    return all(type(layer) is DynamicLayer for layer in cache.layers)


class LocalBackend(ModelBackend):
    """A model run by HuggingFace transformers in this process, with requests from concurrent games batched."""

    slow_start: ClassVar[bool] = True

    provider: ClassVar[str] = "local"
    known_params: ClassVar[frozenset[str]] = frozenset({"batch", "adapter", "prefix_cache"})
    min_timeout: ClassVar[float] = LOCAL_MIN_TIMEOUT

    def __init__(self, spec: ModelSpec, options: BackendOptions) -> None:
        super().__init__(spec, options)
        missing = [m for m in ("torch", "transformers", "gguf", "accelerate") if importlib.util.find_spec(m) is None]
        if missing:
            raise UserError(
                f"model spec {spec.raw!r}: the local backend needs {', '.join(missing)} "
                "(pip install torch==2.13.0 transformers gguf accelerate)"
            )
        self.folder, self.gguf_file, identity = resolve_weights(spec.name)
        self.adapter = adapter_folder(spec)
        if self.adapter is not None:
            identity["adapter"] = adapter_identity(self.adapter)
        self.max_batch = spec.positive("batch", int, min(options.max_connections, MAX_BATCH))
        # "0" turns reuse off, which a positive setting cannot say
        off = spec.params.get("prefix_cache") == "0"
        self.prefix_cache_mb = 0 if off else spec.positive("prefix_cache", int, PREFIX_CACHE_MB)
        self._identity = {"provider": self.provider, "model": spec.name, **identity, "runtime": f"transformers {version('transformers')}"}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oversight-local")
        self._model: Any = None
        self._tokenizer: Any = None
        self._eos: set[int] = set()
        self._pad = 0
        self._pending: list[_Job] = []
        #: None when reuse is off or the model's cache cannot be laid out by rows (decided on load)
        self._store: _PrefixStore | None = None
        #: the model's forward takes ``logits_to_keep``: a prefill then skips the vocabulary projection
        self._logits_to_keep = False
        self._arrived = asyncio.Event()
        self._batcher: asyncio.Task[None] | None = None
        #: how many batches of each size ran: shows whether concurrent games really shared a generate
        self.batch_sizes: Counter[int] = Counter()

    def cache_identity(self) -> dict[str, Any]:
        """The weights (by sha256 for an alias, else by path) and the transformers version."""
        return self._identity

    async def start(self) -> None:
        """Load the tokenizer and the model, on the worker thread."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    async def send(self, request: Request) -> Completion:
        """Queue the request for the next batch and wait for its row of that batch's ``generate``."""
        prompt = self._tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in request.messages],
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
        )["input_ids"]
        job = _Job(tuple(prompt), request.settings, asyncio.get_running_loop().create_future())
        self._pending.append(job)
        self._arrived.set()
        if self._batcher is None:
            self._batcher = asyncio.create_task(self._serve())
        return await job.future

    def classify(self, exc: BaseException) -> Failure:
        """A batch out of memory is worth another attempt: the batch size has been halved meanwhile."""
        if _out_of_memory(exc):
            return Failure.transient("out of memory")
        return super().classify(exc)

    def describe(self, exc: BaseException) -> str:
        """What went wrong while generating."""
        return f"generation failed: {type(exc).__name__}: {exc}"

    def _load(self) -> None:
        tokenizer, model = load_pretrained(self.folder, self.gguf_file)
        if self.adapter is not None:
            from peft import PeftModel

            # merged into the weights: generation then runs at the base model's speed
            model = PeftModel.from_pretrained(model, str(self.adapter)).merge_and_unload()
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        self._eos = set(eos) if isinstance(eos, list) else {eos}
        self._pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self._eos)
        self._tokenizer = tokenizer
        self._model = model.eval()
        if self.prefix_cache_mb and _plain_cache(model):
            self._store = _PrefixStore(self.prefix_cache_mb << 20)
        self._logits_to_keep = "logits_to_keep" in inspect.signature(model.forward).parameters

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._arrived.wait()
            # let the requests that concurrent games send at about the same time join this batch
            deadline = loop.time() + GATHER_WAIT
            while len(self._pending) < self.max_batch and (left := deadline - loop.time()) > 0:
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), left)
            batch = self._take_batch()
            if self._pending:
                self._arrived.set()
            else:
                self._arrived.clear()
            if not batch:
                continue
            self.batch_sizes[len(batch)] += 1
            try:
                results = await loop.run_in_executor(self._executor, self._generate, batch)
            except Exception as exc:  # the batch's calls get the error; the batcher serves the next batch
                if _out_of_memory(exc):
                    self.max_batch = max(1, len(batch) // 2)
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            for job, completion in zip(batch, results, strict=True):
                if not job.future.done():  # its game may have been cancelled meanwhile
                    job.future.set_result(completion)

    def _take_batch(self) -> list[_Job]:
        """The oldest request and the compatible ones behind it, up to the batch size, in arrival order."""
        self._pending = [job for job in self._pending if not job.future.done()]
        if not self._pending:
            return []
        key = _batch_key(self._pending[0].settings)
        batch = [job for job in self._pending if _batch_key(job.settings) == key][: self.max_batch]
        taken = {id(job) for job in batch}
        self._pending = [job for job in self._pending if id(job) not in taken]
        return batch

    def _generate(self, jobs: list[_Job]) -> list[Completion]:
        import torch
        from transformers import DynamicCache, GenerationConfig

        model, tokenizer = self._model, self._tokenizer
        settings = jobs[0].settings
        rows, cached = self._plan(jobs)
        input_ids, mask, cache, reused_width = self._layout(rows)
        if self._store is not None and cache is None:
            cache = DynamicCache()  # passed in, so this batch's key/values can be kept afterwards
        width = input_ids.shape[1]
        assert reused_width in (0, width - 1), "generate starts from all of each prompt or none of it"
        sampling = settings.temperature > 0
        # every knob set explicitly, so a model folder's own generation defaults (penalties, top-k) do not apply
        config = GenerationConfig(
            max_new_tokens=max(job.settings.max_tokens for job in jobs),
            do_sample=sampling,
            temperature=settings.temperature if sampling else None,
            top_p=settings.top_p if sampling and settings.top_p is not None else 1.0,
            top_k=0,
            repetition_penalty=1.0,
            eos_token_id=sorted(self._eos),
            pad_token_id=self._pad,
            stop_strings=list(settings.stop) if settings.stop else None,
        )
        if sampling and settings.seed is not None:
            torch.manual_seed(settings.seed)
        with torch.inference_mode():
            out = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                cache=cache,
                generation_config=config,
                tokenizer=tokenizer if settings.stop else None,
                return_dict_in_generate=True,
                output_logits=settings.logprobs,
            )
        if self._store is not None and not reused_width:
            self._keep(rows, cache, 0, width)
        generated = out.sequences[:, width:].tolist()
        return [
            self._completion(job, row, generated[row], out.logits, cached[row]) for row, job in enumerate(jobs)
        ]

    def _plan(self, jobs: list[_Job]) -> tuple[list[_Row], list[int]]:
        """Each job's row for ``generate``, and how many of its prompt tokens it took from the store.

        Without reuse a row is its prompt, computed by ``generate``. With reuse, the prefixes that several jobs
        share and no kept entry holds are computed first (once each, when that costs the batch less), then every
        row's prompt but its last token in one pass from its longest kept prefix, the gaps between reused and
        computed tokens masked; ``generate`` then starts from those key/values laid out without gaps, so decoding
        attends over no more columns than without reuse. Tokens computed once for several jobs count as computed
        for the first job that reuses them, as reused for the others.
        """
        if self._store is None:
            return [_Row(job.prompt) for job in jobs], [0] * len(jobs)
        rows = [self._row(job.prompt, len(job.prompt) - 1) for job in jobs]  # the last token's logits start generating
        shared = [self._row(prefix, len(prefix) - 1) for prefix in self._shared(rows)]
        computed: dict[tuple[int, ...], int] = {}
        if _prefill_pays(rows, shared):
            kept = self._prefill(shared)
            computed = {entry.tokens: row.reused for row, entry in zip(shared, kept, strict=True)}
            rows = [self._row(job.prompt, len(job.prompt) - 1) for job in jobs]
        cached = []
        for row in rows:
            reused = row.reused
            if row.prefix is not None and (start := computed.pop(row.prefix.tokens, None)) is not None:
                reused -= max(0, row.reused - start)
            cached.append(reused)
        if not any(row.reused for row in rows):
            return rows, cached
        heads = [_Row(row.tokens[:-1], row.prefix, row.reused) for row in rows]
        todo = [head for head in heads if head.reused < len(head.tokens)]
        computed_heads = iter(self._prefill(todo) if todo else [])
        prefixes = [next(computed_heads) if head.reused < len(head.tokens) else head.prefix for head in heads]
        return [_Row(row.tokens, p, len(row.tokens) - 1) for row, p in zip(rows, prefixes, strict=True)], cached

    def _row(self, tokens: tuple[int, ...], limit: int) -> _Row:
        """``tokens`` as a row starting from the longest kept prefix (reusing at most ``limit`` tokens)."""
        assert self._store is not None
        prefix, reused = self._store.lookup(tokens, limit)
        return _Row(tokens, prefix, reused)

    def _shared(self, rows: list[_Row]) -> list[tuple[int, ...]]:
        """The prefixes that two or more rows share beyond what they reuse already (by ``MIN_PREFIX`` at least),
        longest first; one that begins another is left out, as the longer one serves its rows too."""
        # in sorted order a row's longest prefix shared with any other row is the one shared with a neighbour
        order = sorted(range(len(rows)), key=lambda i: rows[i].tokens)
        shared = [0] * len(rows)
        for a, b in zip(order, order[1:]):
            n = min(shared_prefix(rows[a].tokens, rows[b].tokens), len(rows[a].tokens) - 1, len(rows[b].tokens) - 1)
            shared[a], shared[b] = max(shared[a], n), max(shared[b], n)
        wanted = {
            row.tokens[:n]
            for row, n in zip(rows, shared, strict=True)
            if n >= MIN_PREFIX and n - row.reused >= MIN_PREFIX
        }
        longest = sorted(wanted, key=len, reverse=True)
        return [p for i, p in enumerate(longest) if not any(q[: len(p)] == p for q in longest[:i])]

    def _prefill(self, rows: list[_Row]) -> list[_Prefix]:
        """Compute the rows' tokens in one forward pass, each from its reused prefix, and keep them."""
        import torch
        from transformers import DynamicCache

        input_ids, mask, cache, reused_width = self._layout(rows)
        cache = cache if cache is not None else DynamicCache()
        # positions count only the tokens the mask shows, as generate's own do
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        extra = {"logits_to_keep": 1} if self._logits_to_keep else {}
        with torch.inference_mode():
            self._model(
                input_ids=input_ids[:, reused_width:],
                attention_mask=mask,
                position_ids=positions[:, reused_width:],
                cache=cache,
                use_cache=True,
                **extra,
            )
        return self._keep(rows, cache, reused_width, input_ids.shape[1])

    def _layout(self, rows: list[_Row]) -> tuple[Any, Any, Any, int]:
        """(input ids, attention mask, cache or None, width of the reused columns) for ``rows``.

        The first columns hold each row's reused prefix, padded on the left, as key/values in the cache; the rest
        hold its remaining tokens, padded on the left too, so every row's last token is in the last column. The
        mask hides both gaps, and positions counted along it skip them, so each token sees exactly its own prompt.
        Without reuse this is plain left padding.
        """
        import torch
        from transformers import DynamicCache

        device = self._model.device
        reused_width = max(row.reused for row in rows)
        new_width = max(len(row.tokens) - row.reused for row in rows)
        ids, mask = [], []
        for row in rows:
            before, rest = reused_width - row.reused, list(row.tokens[row.reused :])
            gap = new_width - len(rest)
            ids.append([self._pad] * before + list(row.tokens[: row.reused]) + [self._pad] * gap + rest)
            mask.append([0] * before + [1] * row.reused + [0] * gap + [1] * len(rest))
        cache = None
        if reused_width:
            sample = next(row.prefix for row in rows if row.prefix is not None)
            layers = []
            for layer, pair in enumerate(sample.layers):
                stacked = []
                for kind, like in enumerate(pair):
                    # zeros under the mask's gaps: any finite value would do
                    tensor = like.new_zeros((len(rows), like.shape[1], reused_width, like.shape[3]))
                    for i, row in enumerate(rows):
                        if row.prefix is not None:
                            kept = row.prefix.layers[layer][kind]
                            tensor[i, :, reused_width - row.reused :] = kept[0, :, : row.reused]
                    stacked.append(tensor)
                layers.append((stacked[0], stacked[1]))
            cache = DynamicCache(layers)
        return (
            torch.tensor(ids, device=device),
            torch.tensor(mask, device=device),
            cache,
            reused_width,
        )

    def _keep(self, rows: list[_Row], cache: Any, reused_width: int, width: int) -> list[_Prefix]:
        """Each row's key/values (its reused prefix and its computed tokens, without the gaps), kept in the store."""
        import torch

        assert self._store is not None
        entries = []
        for i, row in enumerate(rows):
            computed = len(row.tokens) - row.reused
            reused, rest = slice(reused_width - row.reused, reused_width), slice(width - computed, width)
            layers = [
                (
                    torch.cat([layer.keys[i : i + 1, :, reused], layer.keys[i : i + 1, :, rest]], dim=2),
                    torch.cat([layer.values[i : i + 1, :, reused], layer.values[i : i + 1, :, rest]], dim=2),
                )
                for layer in cache.layers
            ]
            entry = _Prefix(row.tokens, layers, sum(t.nbytes for pair in layers for t in pair))
            self._store.add(entry)
            entries.append(entry)
        return entries

    def _completion(self, job: _Job, row: int, ids: list[int], logits: Any, cached: int) -> Completion:
        settings = job.settings
        ids = ids[: settings.max_tokens]
        end = next((i + 1 for i, token in enumerate(ids) if token in self._eos), None)
        finish = "length"
        if end is not None:  # after its end of sequence a row holds padding only
            ids, finish = ids[:end], "stop"
        text = self._tokenizer.decode(ids, skip_special_tokens=True)
        cut = min((text.index(stop) for stop in settings.stop or () if stop in text), default=None)
        if cut is not None:
            text, finish = text[:cut], "stop"
        logprobs = self._logprobs(logits, row, ids, settings.top_logprobs or DEFAULT_TOP_LOGPROBS) if settings.logprobs else None
        usage = Usage(prompt_tokens=len(job.prompt), completion_tokens=len(ids), cached_prompt_tokens=cached)
        return Completion(text=text, usage=usage, logprobs=logprobs, finish_reason=finish)

    def _logprobs(self, logits: Any, row: int, ids: list[int], k: int) -> list[TokenLogprob]:
        import torch

        if not ids:
            return []
        steps = torch.stack([step[row] for step in logits[: len(ids)]]).float().log_softmax(dim=-1)
        chosen = steps.gather(1, torch.tensor(ids, device=steps.device).unsqueeze(1)).squeeze(1).tolist()
        top_values, top_ids = steps.topk(k, dim=-1)
        decode = self._tokenizer.decode
        return [
            TokenLogprob(
                token=decode([token]),
                logprob=chosen[i],
                top_logprobs=[
                    TopLogprob(token=decode([t]), logprob=v)
                    for t, v in zip(top_ids[i].tolist(), top_values[i].tolist(), strict=True)
                ],
            )
            for i, token in enumerate(ids)
        ]

    async def aclose(self) -> None:
        """Stop batching, fail the requests still queued, and drop the model and the kept prefixes."""
        if self._batcher is not None:
            self._batcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._batcher
            self._batcher = None
        for job in self._pending:
            if not job.future.done():
                job.future.set_exception(ModelCallError(f"{self.spec.raw}: backend closed"))
        self._pending.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._model = self._tokenizer = self._store = None


__all__ = ["LocalBackend", "adapter_folder", "load_pretrained", "resolve_weights"]
