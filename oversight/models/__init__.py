"""Model backends, chosen by the provider part of a spec string (``openai/…``, ``scripted/…``)."""

from oversight.models.base import (
    BackendOptions,
    ChatMessage,
    Completion,
    GenerationSettings,
    ModelBackend,
    ModelCallError,
    ModelSpec,
    TokenLogprob,
    TopLogprob,
    Usage,
)
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


def create_backend(spec: str | ModelSpec, options: BackendOptions) -> ModelBackend:
    parsed = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
    backend_cls: type[ModelBackend] = BACKENDS.get(parsed.provider)
    return backend_cls(parsed, options)


__all__ = [
    "BACKENDS",
    "BackendOptions",
    "ChatMessage",
    "Completion",
    "GenerationSettings",
    "ModelBackend",
    "ModelCallError",
    "ModelSpec",
    "TokenLogprob",
    "TopLogprob",
    "Usage",
    "create_backend",
]
