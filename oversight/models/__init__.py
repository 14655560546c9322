"""Model backends, chosen by the provider part of a spec string (``openai/…``, ``scripted/…``)."""

from oversight.models.base import (
    BackendOptions,
    ChatMessage,
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
from oversight.models.reliable import ReliableBackend
from oversight.models.retry import Failure, FailureKind
from oversight.registry import Registry

#: a new backend is one module plus one line here (or an entry point in the group ``oversight.backends``)
BACKENDS = Registry(
    "oversight.backends",
    "model provider",
    builtins={
        "openai": "oversight.models.openai_backend:OpenAIBackend",
        "scripted": "oversight.models.scripted:ScriptedBackend",
        "llamacpp": "oversight.models.llamacpp:LlamaCppBackend",
        "local": "oversight.models.local:LocalBackend",
    },
)


def create_backend(spec: str | ModelSpec, options: BackendOptions) -> ReliableBackend:
    """The backend a spec names, inside the retries, timeouts, limits and pacing every model call gets."""
    parsed = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
    backend_cls: type[ModelBackend] = BACKENDS.get(parsed.provider)
    return ReliableBackend(backend_cls(parsed, options))


__all__ = [
    "BACKENDS",
    "BackendOptions",
    "ChatMessage",
    "Completion",
    "Failure",
    "FailureKind",
    "GenerationSettings",
    "ModelBackend",
    "ModelCallError",
    "ModelSpec",
    "ReliableBackend",
    "Request",
    "TokenLogprob",
    "TopLogprob",
    "Usage",
    "create_backend",
]
