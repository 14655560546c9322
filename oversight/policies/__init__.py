"""Deterministic agent policies behind the ``scripted/<policy>`` backend.

A policy is a function ``(messages, settings, sample, params) -> Completion``. It reads the same prompt a
language model reads (the built-in templates mark passages, choices and assignments with stable tags) and
answers in the same format. The generic policies are registered below; a protocol family registers its own
players, like any plug-in, as entry points in the group ``oversight.scripted``.
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
    },
)

__all__ = ["POLICIES", "Policy"]
