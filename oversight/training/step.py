"""The engine's distillation step between two phases of a run: train (or export) what a protocol asked for, and
rebind the role to the result.

``lora`` fine-tunes the role's ``local/`` model into ``RUN/distilled-K/`` (K the finished iteration, 1-based) and
binds ``local/<model>?adapter=RUN/distilled-K`` to that role and to every role bound to the same model, for the
phases after. An adapter already finished on the same rows (same data hash) is reused, never trained again, so a
resumed run continues where it stopped. ``export`` writes ``RUN/distilled-K-openai.jsonl`` in the OpenAI
fine-tuning chat format and stops the run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import MutableMapping
from pathlib import Path

from oversight.errors import UserError
from oversight.models.base import ModelSpec
from oversight.training.request import Distillation, DistillationRecord

#: the providers whose models the engine can fine-tune itself
TRAINABLE = ("local",)


def check_trainable(spec: str, what: str) -> None:
    """UserError (one line) when ``spec`` is not a model the engine can fine-tune; ``what`` says who asked."""
    parsed = ModelSpec.parse(spec)
    if parsed.provider not in TRAINABLE:
        raise UserError(
            f"{what} fine-tunes {spec!r}, which is not a local/ model (distill=export writes the rows for a hosted "
            "fine-tuning service instead)"
        )


def _adapter_spec(spec: str, adapter: Path) -> str:
    """``spec``'s model with ``adapter`` as its adapter (any earlier adapter replaced, other settings kept)."""
    parsed = ModelSpec.parse(spec)
    params = {**{k: v for k, v in parsed.params.items() if k != "adapter"}, "adapter": str(adapter)}
    return f"{parsed.provider}/{parsed.name}?" + "&".join(f"{k}={v}" for k, v in params.items())


def _base_model(spec: str) -> str:
    return ModelSpec.parse(spec).name


async def distil(request: Distillation, roles: MutableMapping[str, str], run_folder: Path) -> DistillationRecord:
    """Carry out ``request`` for a matchup whose roles are ``roles`` (rebinding them in place for ``lora``)."""
    from oversight.models.local import adapter_folder, adapter_identity
    from oversight.training.lora import finished_adapter, train_lora  # torch only when something is trained

    base_spec = roles[request.role]
    iteration = request.phase + 1
    data_hash = request.data_hash
    common = {
        "phase": request.phase, "role": request.role, "method": request.method, "base_spec": base_spec,
        "rows": len(request.rows), "data_hash": data_hash, "settings": request.settings,
    }
    if request.method == "export":
        path = run_folder / f"distilled-{iteration}-openai.jsonl"
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in request.rows), encoding="utf-8")
        return DistillationRecord(**common, path=path.name)
    check_trainable(base_spec, f"the distillation of role {request.role!r}")
    out = (run_folder / f"distilled-{iteration}").resolve()
    start = adapter_folder(ModelSpec.parse(base_spec))
    if start is not None:  # an adapter trained further: it is new whenever the one it starts from is
        data_hash = hashlib.sha256(f"{data_hash}:{adapter_identity(start)}".encode()).hexdigest()
        common["data_hash"] = data_hash
    done = finished_adapter(out, data_hash)
    reused = done is not None
    if done is None:
        done = await asyncio.to_thread(
            train_lora, _base_model(base_spec), request.rows, out, request.settings, data_hash, start
        )
    spec = _adapter_spec(base_spec, out)
    for role, bound in list(roles.items()):
        if bound == base_spec:
            roles[role] = spec
    return DistillationRecord(
        **common, spec=spec, path=out.name, losses=done.get("losses", []), seconds=done.get("seconds", 0.0),
        device=done.get("device", ""), reused=reused,
    )

