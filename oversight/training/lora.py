"""LoRA fine-tuning of a ``local/`` model on chat rows: peft for the adapter, a plain torch loop for the training.

A plain loop rather than TRL's trainer: a distillation step is a handful of short rows and a few epochs, and the
loop keeps every choice in view (loss on the answer's tokens only, the batch order drawn from the seed, one loss
figure per step) with no dataset library between the rows and the model. It runs on CUDA when present, else the
CPU. The adapter is written to a temporary folder and renamed into place when complete, so a crash or a kill
never leaves a half-written adapter that a resume would take for a finished one.
"""

from __future__ import annotations

import json
import random
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

from oversight.models.local import load_pretrained, resolve_weights
from oversight.training.request import TrainingSettings

#: the file in an adapter folder that records how it was trained; present only in a finished adapter
TRAINING_FILE = "training.json"


def _encode(tokenizer: Any, row: dict[str, Any]) -> tuple[list[int], list[int]]:
    """A chat row as (input ids, labels): the whole conversation, with every token before the last (assistant)
    message's masked out of the loss (-100)."""
    messages = row["messages"]
    prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=True, return_dict=True)
    full = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)
    prompt_ids, ids = list(prompt["input_ids"]), list(full["input_ids"])
    if ids[: len(prompt_ids)] != prompt_ids:  # a template that renders the prompt differently inside the whole
        answer = tokenizer(messages[-1]["content"], add_special_tokens=False)["input_ids"]
        ids = prompt_ids + list(answer) + [tokenizer.eos_token_id]
    return ids, [-100] * len(prompt_ids) + ids[len(prompt_ids) :]


def finished_adapter(folder: Path, data_hash: str) -> dict[str, Any] | None:
    """The training record of a finished adapter in ``folder`` trained on data with ``data_hash``; None when there
    is none (or it was trained on other data)."""
    path = folder / TRAINING_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return record if record.get("data_hash") == data_hash else None


def train_lora(
    model_name: str,
    rows: list[dict[str, Any]],
    out: Path,
    settings: TrainingSettings,
    data_hash: str,
    start: Path | None = None,
) -> dict[str, Any]:
    """Fine-tune the ``local/`` model ``model_name`` on ``rows`` with a LoRA adapter saved to ``out`` — a new one,
    or ``start``'s trained further (the learner keeps what earlier iterations taught it); returns the training
    record (also written to ``out/training.json``): losses per step, seconds, device, settings."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model

    started = time.perf_counter()
    folder, gguf_file, _ = resolve_weights(model_name)
    tokenizer, model = load_pretrained(folder, gguf_file)
    torch.manual_seed(settings.seed)
    if start is not None:
        model = PeftModel.from_pretrained(model, str(start), is_trainable=True)
    else:
        config = LoraConfig(
            r=settings.rank, lora_alpha=settings.alpha, target_modules=settings.target_modules, lora_dropout=0.0,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, config)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    examples = [_encode(tokenizer, row) for row in rows]
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=settings.learning_rate)
    order = random.Random(settings.seed)
    losses: list[float] = []
    model.train()
    for _ in range(settings.epochs):
        indices = list(range(len(examples)))
        order.shuffle(indices)
        for start in range(0, len(indices), settings.batch_size):
            batch = [examples[i] for i in indices[start : start + settings.batch_size]]
            width = max(len(ids) for ids, _ in batch)
            # right padding, masked out of attention and of the loss
            input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in batch], device=model.device)
            labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch], device=model.device)
            mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in batch], device=model.device)
            loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, settings.max_grad_norm)
            optimiser.step()
            optimiser.zero_grad()
            losses.append(round(float(loss.item()), 6))
    record = {
        "data_hash": data_hash, "rows": len(rows), "settings": settings.model_dump(mode="json"), "losses": losses,
        "seconds": round(time.perf_counter() - started, 3), "device": str(model.device), "base": model_name,
        "start": str(start) if start else None,
    }
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # peft looks for a hub config a GGUF model does not have
        model.save_pretrained(str(partial))
    (partial / TRAINING_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return record
