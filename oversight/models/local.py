"""``local/<path-or-alias>``: HuggingFace transformers in this process, on CUDA when present, else the CPU.

The model is a model folder (safetensors), a GGUF file (dequantised by transformers on load) or an alias
(assembled by :mod:`oversight.weights`). Requests from concurrent games are batched dynamically: whatever
arrives within a few milliseconds, up to ``?batch=N``, becomes one left-padded ``generate`` on a single worker
thread, so the event loop stays free. Only requests with the same sampling settings share a batch, and greedy
outputs equal one-at-a-time outputs (each row is cut at its own end of sequence and ``max_tokens``). No prompt
is cached between calls, so every call's usage says it reused none (``cached_prompt_tokens=0``). With
``logprobs`` set, each token comes with its log-probability and the top alternatives from the raw logits.
A batch that runs out of memory halves the batch size, and its calls are tried again, with backoff, as every
backend's transient failures are (:mod:`oversight.models.reliable`); any other failure fails its calls. torch
and transformers are imported on first use, on the worker thread.

``?adapter=FOLDER`` loads a LoRA adapter (peft's format, e.g. a run's ``distilled-K/``) onto the model and merges
it into the weights; the adapter's weights are part of the model's identity in the response cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
from collections import Counter
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
)
from oversight.models.retry import Failure
from oversight.weights import ALIASES, resolve_gguf

MAX_BATCH = 16
#: how long the first request of a batch waits for others; tiny next to the seconds one generate takes
GATHER_WAIT = 0.005
DEFAULT_TOP_LOGPROBS = 5
#: how torch (CUDA or CPU allocator) says a batch did not fit
_OOM_MESSAGES = ("out of memory", "can't allocate memory")


@dataclass
class _Job:
    prompt: list[int]
    settings: GenerationSettings
    future: asyncio.Future[Completion]


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


class LocalBackend(ModelBackend):
    """A model run by HuggingFace transformers in this process, with requests from concurrent games batched."""

    slow_start: ClassVar[bool] = True

    provider: ClassVar[str] = "local"
    known_params: ClassVar[frozenset[str]] = frozenset({"batch", "adapter"})
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
        self._identity = {"provider": self.provider, "model": spec.name, **identity, "runtime": f"transformers {version('transformers')}"}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oversight-local")
        self._model: Any = None
        self._tokenizer: Any = None
        self._eos: set[int] = set()
        self._pad = 0
        self._pending: list[_Job] = []
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
        job = _Job(list(prompt), request.settings, asyncio.get_running_loop().create_future())
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
        from transformers import GenerationConfig

        model, tokenizer = self._model, self._tokenizer
        settings = jobs[0].settings
        width = max(len(job.prompt) for job in jobs)
        # left padding: every row's last prompt token sits in the last column, where generation continues
        input_ids = torch.tensor([[self._pad] * (width - len(j.prompt)) + j.prompt for j in jobs], device=model.device)
        mask = torch.tensor([[0] * (width - len(j.prompt)) + [1] * len(j.prompt) for j in jobs], device=model.device)
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
                generation_config=config,
                tokenizer=tokenizer if settings.stop else None,
                return_dict_in_generate=True,
                output_logits=settings.logprobs,
            )
        generated = out.sequences[:, width:].tolist()
        return [self._completion(job, row, generated[row], out.logits) for row, job in enumerate(jobs)]

    def _completion(self, job: _Job, row: int, ids: list[int], logits: Any) -> Completion:
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
        # every generate starts from an empty KV cache: the whole prompt is computed, none of it reused
        usage = Usage(prompt_tokens=len(job.prompt), completion_tokens=len(ids), cached_prompt_tokens=0)
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
        """Stop batching, fail the requests still queued, and drop the model."""
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
        self._model = self._tokenizer = None


__all__ = ["LocalBackend", "adapter_folder", "load_pretrained", "resolve_weights"]
