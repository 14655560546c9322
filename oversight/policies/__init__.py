"""Deterministic agent policies behind the ``scripted/<policy>`` backend.

A policy is a function ``(messages, settings, sample, params) -> Completion``. It reads the same prompt a
language model reads (the built-in templates mark passages, choices and assignments with stable tags) and
answers in the same format. A new policy is a function in a module here plus one line below (or an entry point
in the group ``oversight.scripted``).
"""

from collections.abc import Callable

from oversight.models.base import ChatMessage, Completion, GenerationSettings
from oversight.registry import Registry

Policy = Callable[[list[ChatMessage], GenerationSettings, int, dict[str, str]], Completion]

POLICIES = Registry(
    "oversight.scripted",
    "scripted policy",
    builtins={
        "auto": "oversight.policies.generic:auto",
        "echo": "oversight.policies.generic:echo",
        "constant": "oversight.policies.generic:constant",
        "first": "oversight.policies.generic:first",
        "random": "oversight.policies.generic:random_choice",
        "debater": "oversight.policies.debate:debater",
        "liar": "oversight.policies.debate:liar",
        "judge": "oversight.policies.debate:judge",
        "oracle": "oversight.policies.ida:oracle",
        "noisy-oracle": "oversight.policies.ida:noisy_oracle",
        "elk": "oversight.policies.elk:elk",
        "elk-builder": "oversight.policies.elk:builder",
        "elk-breaker": "oversight.policies.elk:breaker",
        "elk-judge": "oversight.policies.elk:judge",
    },
)

__all__ = ["POLICIES", "Policy"]
