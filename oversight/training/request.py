"""What a protocol asks the engine to distil after a phase, and what the engine records of having done it.

A protocol never trains anything itself: after phase ``k`` it may hand the engine a :class:`Distillation` (SFT chat
rows and the role whose model learns them). The engine fine-tunes that model with LoRA (``lora``) and plays the
next phase with the adapter, or writes the rows for a hosted fine-tuning service and stops (``export``), and keeps
a :class:`DistillationRecord` in the manifest and the summary.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, Field


class TrainingSettings(BaseModel):
    """LoRA fine-tuning settings: the adapter's shape and the optimiser's schedule."""

    rank: int = Field(default=16, ge=1, le=256)
    alpha: int = Field(default=32, ge=1)
    #: the attention projections the adapter wraps (their names in Llama/Qwen-style models)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    learning_rate: float = Field(default=1e-3, gt=0)
    #: gradients are clipped to this norm, so one odd batch cannot throw the adapter off
    max_grad_norm: float = Field(default=1.0, gt=0)
    epochs: int = Field(default=4, ge=1, le=100)
    batch_size: int = Field(default=4, ge=1, le=256)
    seed: int = 0


class Distillation(BaseModel):
    """A protocol's request after a phase: fine-tune ``role``'s model on ``rows`` (``{"messages": [...]}`` chat
    rows whose last message is the assistant's answer to learn), by ``method``."""

    #: the phase whose games produced the rows (0-based); the result serves phase ``phase + 1``
    phase: int
    role: str
    method: Literal["lora", "export"]
    rows: list[dict[str, Any]]
    settings: TrainingSettings = Field(default_factory=TrainingSettings)

    @property
    def data_hash(self) -> str:
        """sha256 of the rows as canonical JSON: the same games give the same hash, so a resume can trust an
        adapter trained on them."""
        text = json.dumps(self.rows, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


class DistillationRecord(BaseModel):
    """What the engine did for one :class:`Distillation`: where the result is, what it was trained on and how."""

    schema_version: int = 1
    phase: int
    role: str
    method: Literal["lora", "export"]
    #: the model spec that was trained, and the spec the next phase plays with (an ``?adapter=`` spec)
    base_spec: str
    spec: str | None = None
    #: the adapter folder (``lora``) or the rows file (``export``), relative to the run folder
    path: str
    rows: int
    data_hash: str
    settings: TrainingSettings
    #: mean loss of each optimiser step, in order
    losses: list[float] = Field(default_factory=list)
    seconds: float = 0.0
    device: str = ""
    #: True when a finished adapter from an earlier attempt was reused rather than trained again
    reused: bool = False
