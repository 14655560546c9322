"""``scripted/<policy>``: deterministic agents that run in-process behind the same interface as a real model.

Tests, dry runs and the loopback server use them; so can studies where the agent policy is the thing studied.
The policies themselves live in :mod:`oversight.policies`.
"""

from __future__ import annotations

from typing import ClassVar

from oversight.models.base import BackendOptions, Completion, ModelBackend, ModelSpec, Request
from oversight.policies import POLICIES, Policy


class ScriptedBackend(ModelBackend):
    """A policy from :mod:`oversight.policies`, answering in-process and deterministically."""

    provider: ClassVar[str] = "scripted"
    cacheable: ClassVar[bool] = False
    #: settings such as ``?text=`` or ``?seed=`` belong to the policy
    known_params: ClassVar[frozenset[str] | None] = None

    def __init__(self, spec: ModelSpec, options: BackendOptions) -> None:
        super().__init__(spec, options)
        self._policy: Policy = POLICIES.get(spec.name)

    async def send(self, request: Request) -> Completion:
        """The policy's answer to the request."""
        completion = self._policy(request.messages, request.settings, request.sample, self.spec.params)
        if not request.settings.logprobs:
            completion = completion.model_copy(update={"logprobs": None})
        return completion
