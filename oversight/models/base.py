"""The one interface every model backend implements: one request in, one completion out, and what a failure means.

Retries, timeouts, concurrency limits and pacing are the same for every backend and live in
:mod:`oversight.models.reliable`, which :func:`oversight.models.create_backend` puts around each backend. Besides
what decides its response, a :class:`Request` says where it goes: its endpoint, and an opaque affinity key shared
by calls likely to share a prompt prefix, so they reach the replica or slot that holds it.
"""

from __future__ import annotations

import asyncio
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, TypeVar, overload
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field

from oversight.errors import UserError
from oversight.models.concurrency import AdaptiveLimiter, ServerTimeout
from oversight.models.retry import Failure, RetryStats, Sleep

N = TypeVar("N", int, float)


class ChatMessage(BaseModel):
    """One message of a chat: who says it and what."""

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
    """Tokens one call (or a sum of calls) read and wrote."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: of the prompt tokens, how many the backend reused from its prompt (KV) cache instead of computing them:
    #: llama.cpp's ``timings.cache_n``, an OpenAI-compatible server's ``usage.prompt_tokens_details.cached_tokens``,
    #: the transformers backend's count from its store of recent prompts; None when the backend does not say
    cached_prompt_tokens: int | None = None

    @property
    def total_tokens(self) -> int:
        """Tokens read and written together."""
        return self.prompt_tokens + self.completion_tokens

    @property
    def computed_prompt_tokens(self) -> int | None:
        """Prompt tokens the backend computed (not reused from its prompt cache); None when it does not say."""
        if self.cached_prompt_tokens is None:
            return None
        return self.prompt_tokens - self.cached_prompt_tokens

    def _reuse_known(self) -> int | None:
        return 0 if self.cached_prompt_tokens is None and self.prompt_tokens == 0 else self.cached_prompt_tokens

    def __add__(self, other: Usage) -> Usage:
        # reuse is known for a sum only when every part says it (otherwise prompt − cached would count as computed
        # the tokens of a part that never said); a part without prompt tokens reused none, so Usage() starts a sum
        mine, theirs = self._reuse_known(), other._reuse_known()
        cached = mine + theirs if mine is not None and theirs is not None else None
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_prompt_tokens=cached,
        )


class TopLogprob(BaseModel):
    """One of the likeliest tokens at a position, with its log-probability."""

    token: str
    logprob: float


class TokenLogprob(BaseModel):
    """A generated token, its log-probability and the likeliest alternatives at its position."""

    token: str
    logprob: float
    top_logprobs: list[TopLogprob] = Field(default_factory=list)


class Completion(BaseModel):
    """What a model answered: its text, token counts, optional logprobs, and whether the cache supplied it."""

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
        """Read a spec string; a malformed one, or one carrying a key, is a :class:`UserError`."""
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


def shared_prefix(a: Sequence[Any], b: Sequence[Any]) -> int:
    """How many leading items ``a`` and ``b`` (two strings, or two tuples) have in common.

    Found by halving, each step one slice comparison, so the items are compared in C: prompts of thousands of
    characters or tokens are compared on every call, on the event loop (llama.cpp slots) or per kept prompt.
    """
    if type(a) is not type(b):  # a list and a tuple never compare equal, so this would say 0
        raise TypeError(f"shared_prefix of a {type(a).__name__} and a {type(b).__name__}")
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


@dataclass(frozen=True)
class Request:
    """One attempt at one model call, as a backend sends it."""

    messages: list[ChatMessage]
    settings: GenerationSettings
    #: tells apart several candidates drawn for the same messages and settings
    sample: int = 0
    #: which of the backend's :meth:`ModelBackend.endpoints` this attempt goes to; None for an in-process backend
    endpoint: str | None = None
    #: an opaque key: calls with the same key are likely to share a prompt prefix (the calls of one game), so they
    #: are sent where that prefix is warm (the same replica, the same llama.cpp slot); not part of the cache key
    affinity: str | None = None


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
    #: how a retry waits out its delay (tests pass one that returns at once)
    sleep: Sleep = asyncio.sleep
    #: endpoint (base URL) → its limiter, shared by every backend made with these options
    limiters: dict[str, AdaptiveLimiter] = field(default_factory=dict)
    retries: RetryStats = field(default_factory=RetryStats)

    def limiter(self, url: str) -> AdaptiveLimiter:
        """The requests in flight to ``url``, whichever model they are for."""
        if url not in self.limiters:
            self.limiters[url] = AdaptiveLimiter(self.max_connections)
        return self.limiters[url]

    def fix_limit(self, url: str, slots: int) -> None:
        """Hold ``url`` to ``slots`` requests at a time, without adapting: for a server whose capacity is known
        (one this process started), so none waits in its queue and each one's timeout runs while it is served."""
        self.limiters[url] = AdaptiveLimiter(slots, start=slots, adaptive=False)


#: spec settings every backend takes, applied around each of its calls (:mod:`oversight.models.reliable`)
RELIABILITY_PARAMS = frozenset({"timeout", "max_attempts", "rps"})
#: the shortest timeout of a backend generating on this machine: a CPU at full load may take minutes for one long
#: turn, and a hosted API's timeout would cut it and have it done again
LOCAL_MIN_TIMEOUT = 3600.0


class ModelBackend(ABC):
    """A source of completions: it sends one request at a time and says what its failures mean.

    It knows nothing about which game or role it serves, and nothing of retries, timeouts, concurrency limits or
    pacing: :class:`~oversight.models.reliable.ReliableBackend` adds those to every backend, reading the settings
    resolved here (the spec's ``timeout``, ``max_attempts`` and ``rps``, else the run's).
    """

    provider: ClassVar[str]
    #: whether responses are worth storing in the response cache (in-process policies are not)
    cacheable: ClassVar[bool] = True
    #: whether :meth:`start` takes long enough (loading weights, starting a server) to be shown as a step of its own
    slow_start: ClassVar[bool] = False
    #: spec settings this backend understands besides :data:`RELIABILITY_PARAMS` (anything else is a user error);
    #: None passes all through
    known_params: ClassVar[frozenset[str] | None] = frozenset()
    #: the run's timeout is raised to at least this for this backend (a spec's own ``timeout`` is taken as it is)
    min_timeout: ClassVar[float] = 0.0

    def __init__(self, spec: ModelSpec, options: BackendOptions) -> None:
        if self.known_params is not None:
            known = self.known_params | RELIABILITY_PARAMS
            if unknown := set(spec.params) - known:
                raise UserError(
                    f"model spec {spec.raw!r}: unknown setting(s) {', '.join(sorted(unknown))} "
                    f"(known: {', '.join(sorted(known))})"
                )
        self.spec = spec
        self.options = options
        #: seconds of work one request may take before it is given up on (and retried)
        self.timeout: float = spec.positive("timeout", float, max(options.timeout, self.min_timeout))
        #: attempts per call, the first included
        self.max_attempts: int = spec.positive("max_attempts", int, options.max_attempts)
        #: requests per second per endpoint, if paced
        self.requests_per_second: float | None = spec.positive("rps", float, options.requests_per_second)

    def cache_identity(self) -> dict[str, Any]:
        """What, besides the request, decides the response: goes into the cache key."""
        return {"provider": self.provider, "model": self.spec.name}

    async def start(self) -> None:
        """Get ready to send (load weights, start a server): before the first request, and again after
        :meth:`aclose`."""

    def endpoints(self) -> tuple[str, ...]:
        """The servers this backend sends to, by base URL, once started. Each has a concurrency limit shared by
        every model sent there, and an attempt goes to the one with the most room. Empty for a backend that
        answers in this process: its requests are not limited."""
        return ()

    @abstractmethod
    async def send(self, request: Request) -> Completion:
        """Make one attempt at ``request``: no retries and no timeout; a failure is raised for :meth:`classify`."""

    def classify(self, exc: BaseException) -> Failure:
        """What a failure raised by :meth:`start` or :meth:`send` means. By default a timeout or a broken connection
        is worth another attempt and anything else fails its call; an override falls back on this for what it does
        not know."""
        if isinstance(exc, TimeoutError):
            return Failure.transient("timed out", overloaded=True)
        if isinstance(exc, ConnectionError):
            return Failure.transient("connection error")
        return Failure.rejected(type(exc).__name__)

    def describe(self, exc: BaseException) -> str:
        """A failure raised by :meth:`start` or :meth:`send`, in one line, for the log of a retry and for the error
        a game or the run ends with."""
        if isinstance(exc, ServerTimeout):
            return str(exc)
        return f"{type(exc).__name__}: {exc}"

    async def aclose(self) -> None:
        """Release connections, servers or weights."""
