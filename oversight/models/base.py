"""The one interface every model backend implements: chat messages and settings in, a completion out."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar, overload
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field

from oversight.errors import UserError
from oversight.models.concurrency import AdaptiveLimiter
from oversight.models.retry import RetryStats

N = TypeVar("N", int, float)


class ChatMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


class GenerationSettings(BaseModel):
    """Sampling settings; part of the cache key, so two runs that differ here never share responses."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_tokens: int = Field(default=512, gt=0)
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float | None = None
    stop: tuple[str, ...] | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    seed: int | None = None


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


class TopLogprob(BaseModel):
    token: str
    logprob: float


class TokenLogprob(BaseModel):
    token: str
    logprob: float
    top_logprobs: list[TopLogprob] = Field(default_factory=list)


class Completion(BaseModel):
    text: str
    usage: Usage = Field(default_factory=Usage)
    logprobs: list[TokenLogprob] | None = None
    finish_reason: str | None = None
    cached: bool = False


class ModelCallError(Exception):
    """A model call failed for good (retries exhausted, or a request the server rejects): the game fails."""


_SECRET_PARAMS = frozenset({"api_key", "key", "token", "secret", "password"})


@dataclass(frozen=True)
class ModelSpec:
    """A parsed spec string: ``provider/name`` with optional ``?key=value&...`` settings."""

    raw: str
    provider: str
    name: str
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str) -> ModelSpec:
        provider, sep, rest = raw.partition("/")
        if not sep or not provider or not rest:
            raise UserError(f"model spec {raw!r}: expected PROVIDER/NAME, e.g. openai/gpt-4o-mini or scripted/judge")
        name, _, query = rest.partition("?")
        if not name:
            raise UserError(f"model spec {raw!r}: missing the model name after '{provider}/'")
        try:
            params = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
        except ValueError:
            raise UserError(f"model spec {raw!r}: malformed settings after '?' (expected key=value&key=value)") from None
        if _SECRET_PARAMS & set(params):
            raise UserError(
                f"model spec {provider}/{name}: keys do not belong in specs (they are written to run.json); "
                "use OPENAI_API_KEY, a .env file, or api_key_env=VARIABLE"
            )
        return cls(raw=raw, provider=provider, name=name, params=params)

    @overload
    def positive(self, key: str, kind: type[N], default: N) -> N: ...
    @overload
    def positive(self, key: str, kind: type[N], default: None = None) -> N | None: ...

    def positive(self, key: str, kind: type[N], default: N | None = None) -> N | None:
        """Setting ``key`` as a positive, finite ``int`` or ``float``; ``default`` when the spec does not set it."""
        if key not in self.params:
            return default
        raw = self.params[key]
        what = "integer" if kind is int else "number"
        where = f"model spec {self.raw!r}: {key} must be a positive {what}"
        try:
            value = kind(raw)
        except ValueError:
            raise UserError(f"{where} (could not convert {raw!r})") from None
        if not (math.isfinite(value) and value > 0):
            raise UserError(f"{where}, not {raw}")
        return value


@dataclass
class BackendOptions:
    """Run-wide settings every backend may use; backends created with the same options share their state."""

    #: most requests in flight at once to any one endpoint (each endpoint's own limit adapts below it)
    max_connections: int = 64
    #: seconds of the server's work per call (see :mod:`oversight.models.concurrency`)
    timeout: float = 120.0
    max_attempts: int = 6
    requests_per_second: float | None = None
    #: seconds before the first retry; later retries wait exponentially longer, with jitter
    backoff: float = 0.5
    #: endpoint (base URL) → its limiter, shared by every backend made with these options
    limiters: dict[str, AdaptiveLimiter] = field(default_factory=dict)
    retries: RetryStats = field(default_factory=RetryStats)

    def limiter(self, url: str) -> AdaptiveLimiter:
        """The requests in flight to ``url``, whichever model they are for."""
        if url not in self.limiters:
            self.limiters[url] = AdaptiveLimiter(self.max_connections)
        return self.limiters[url]


class ModelBackend(ABC):
    """A source of completions. It knows nothing about which game or role it serves."""

    provider: ClassVar[str]
    #: whether responses are worth storing in the response cache (in-process policies are not)
    cacheable: ClassVar[bool] = True
    #: spec settings this backend understands (anything else is a user error); None passes all through
    known_params: ClassVar[frozenset[str] | None] = frozenset()

    def __init__(self, spec: ModelSpec, options: BackendOptions) -> None:
        if self.known_params is not None and (unknown := set(spec.params) - self.known_params):
            known = ", ".join(sorted(self.known_params)) or "none"
            raise UserError(f"model spec {spec.raw!r}: unknown setting(s) {', '.join(sorted(unknown))} (known: {known})")
        self.spec = spec
        self.options = options

    def cache_identity(self) -> dict[str, Any]:
        """What, besides the request, decides the response: goes into the cache key."""
        return {"provider": self.provider, "model": self.spec.name}

    @abstractmethod
    async def complete(self, messages: list[ChatMessage], settings: GenerationSettings, sample: int) -> Completion:
        """Return one completion; ``sample`` tells apart several candidates drawn for the same request."""

    async def aclose(self) -> None:
        """Release connections, servers or weights."""
