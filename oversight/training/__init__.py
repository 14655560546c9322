"""Training a run's models between phases: what a protocol asks to distil, and the LoRA fine-tuning that does it."""

from oversight.training.request import Distillation, DistillationRecord, TrainingSettings

__all__ = ["Distillation", "DistillationRecord", "TrainingSettings"]
