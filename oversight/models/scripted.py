"""``scripted/<policy>``: deterministic agents that run in-process behind the same interface as a real model.

Tests, dry runs and the loopback server use them; so can studies where the agent policy is the thing studied.
The policies themselves live in :mod:`oversight.policies`.
"""

from __future__ import annotations

from typing import ClassVar

from oversight.models.base import BackendOptions, ChatMessage, Completion, GenerationSettings, ModelBackend, ModelSpec
from oversight.policies import POLICIES, Policy


class ScriptedBackend(ModelBackend):
    provider: ClassVar[str] = "scripted"
    cacheable: ClassVar[bool] = False
    #: settings such as ``?text=`` or ``?seed=`` belong to the policy
    known_params: ClassVar[frozenset[str] | None] = None

    def __init__(self, spec: ModelSpec, options: BackendOptions) -> None:
        super().__init__(spec, options)
        self._policy: Policy = POLICIES.get(spec.name)

    async def complete(self, messages: list[ChatMessage], settings: GenerationSettings, sample: int) -> Completion:
        completion = self._policy(messages, settings, sample, self.spec.params)
        if not settings.logprobs:
            completion = completion.model_copy(update={"logprobs": None})
        return completion
