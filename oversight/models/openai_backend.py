"""``openai/<model>``: any OpenAI-compatible chat server through the official SDK.

Endpoints come from the spec (``?base_url=URL1,URL2``), ``OPENAI_BASE_URL`` (comma-separated) or the SDK's
default; each attempt goes to the endpoint with the most room (:mod:`oversight.models.reliable`), so adding a
replica adds throughput, and the calls of one game keep to one endpoint while it is healthy, so a replica's prefix
cache serves their shared prompt prefix (the affinity key that groups them is not sent). The SDK's own retries are
off: this backend sends one request and says what a failure means, and the wrapper every backend gets retries it
(honouring ``Retry-After``), and stops the run at once for a rejected key or an unknown model instead of failing
every game.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, ClassVar

import aiohttp
import httpx2
import openai
from openai.types.chat import ChatCompletion

from oversight.errors import UserError
from oversight.models.base import (
    BackendOptions,
    Completion,
    ModelBackend,
    ModelSpec,
    Request,
    TokenLogprob,
    TopLogprob,
    Usage,
)
from oversight.models.retry import Failure, retry_after
from oversight.secrets import env_secret

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: servers such as vLLM or llama.cpp accept any key; the SDK insists on having one
PLACEHOLDER_KEY = "no-key-required"
#: statuses worth another attempt: a timeout, a conflict, a rate limit, any server error
RETRY_STATUSES = frozenset({408, 409, 429})
#: statuses by which a server says it has more than it can take: fewer requests in flight, then
OVERLOAD_STATUSES = frozenset({408, 429, 503, 504})
#: statuses no request with this key and model can get past: a rejected key, an unknown model or endpoint
FATAL_STATUSES = frozenset({401, 403, 404})
#: what a connection that was accepted and then closed under a request looks like, per transport
_DROPPED = (ConnectionResetError, BrokenPipeError, aiohttp.ServerDisconnectedError, httpx2.RemoteProtocolError)


class GarbageResponse(Exception):
    """The server answered 200 with something that is not a usable chat completion."""


def _broken_connection(exc: BaseException) -> str | None:
    """``refused`` or ``dropped`` when that is what lies under a connection error; the aiohttp transport reports
    both as timeouts."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "refused"
        if isinstance(cause, _DROPPED):
            return "dropped"
        cause = cause.__cause__ or cause.__context__
    return None


class OpenAIBackend(ModelBackend):
    """A model behind one or more OpenAI-compatible endpoints (replicas serving the same weights)."""

    provider: ClassVar[str] = "openai"
    known_params: ClassVar[frozenset[str]] = frozenset({"base_url", "api_key_env"})

    def __init__(self, spec: ModelSpec, options: BackendOptions) -> None:
        super().__init__(spec, options)
        params = spec.params
        raw_urls = params.get("base_url") or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        urls = [u.strip().rstrip("/") for u in raw_urls.split(",") if u.strip()]
        if not urls or not all(u.startswith(("http://", "https://")) for u in urls):
            raise UserError(f"model spec {spec.raw!r}: base URL(s) {raw_urls!r} must start with http:// or https://")
        key_env = params.get("api_key_env", "OPENAI_API_KEY")
        key = env_secret(key_env)
        if not key:
            if DEFAULT_BASE_URL in urls:
                raise UserError(f"model spec {spec.raw!r}: {key_env} is not set (environment or .env)")
            key = PLACEHOLDER_KEY
        self._api_key = key
        self._urls = tuple(urls)
        self._clients: dict[str, openai.AsyncOpenAI] = {}
        #: fields a particular server takes besides OpenAI's (llama.cpp's ``cache_prompt``), sent with every request
        self.extra_body: dict[str, Any] = {}

    def cache_identity(self) -> dict[str, Any]:
        # the replica group, not the replica that happened to answer: replicas serve the same weights
        return {"provider": self.provider, "base_url": sorted(self._urls), "model": self.spec.name}

    def endpoints(self) -> tuple[str, ...]:
        """The base URLs of the replicas."""
        return self._urls

    def _client(self, url: str) -> openai.AsyncOpenAI:
        if url not in self._clients:
            limit = self.options.max_connections
            # only connecting is timed here: the reply is timed by the limiter's clock, which leaves out the time a
            # request waits behind our own in the server's queue
            timeout = httpx2.Timeout(None, connect=self.timeout)
            self._clients[url] = openai.AsyncOpenAI(
                base_url=url,
                api_key=self._api_key,
                max_retries=0,
                timeout=timeout,
                http_client=openai.DefaultAioHttpClient(
                    limits=httpx2.Limits(max_connections=limit, max_keepalive_connections=limit),
                    timeout=timeout,
                ),
            )
        return self._clients[url]

    def classify(self, exc: BaseException) -> Failure:
        """HTTP statuses, connection errors and malformed replies, by what they mean for the call and the run."""
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if status in FATAL_STATUSES:
                return Failure.fatal(f"HTTP {status}")
            if status in RETRY_STATUSES or status >= 500:
                return Failure.transient(f"HTTP {status}", status in OVERLOAD_STATUSES, retry_after(exc))
            return Failure.rejected(f"HTTP {status}")
        if isinstance(exc, openai.APIConnectionError):
            broken = _broken_connection(exc)
            if broken:
                return Failure.transient(f"connection {broken}")
            if isinstance(exc, openai.APITimeoutError):
                return Failure.transient("timed out", overloaded=True)
            return Failure.transient("connection error")
        if isinstance(exc, (openai.APIResponseValidationError, json.JSONDecodeError, GarbageResponse)):
            return Failure.transient("malformed reply")
        return super().classify(exc)

    def describe(self, exc: BaseException) -> str:
        """A failure in one line; for a rejected key or an unknown model, with what to check."""
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if status in (401, 403):
                return f"the server rejected the API key (HTTP {status}); check OPENAI_API_KEY or .env"
            if status == 404:
                return f"not found (HTTP 404); check the model name and base URL ({exc.message})"
            if status in RETRY_STATUSES or status >= 500:
                return f"HTTP {status}: {exc.message}"
            return f"request rejected: HTTP {status}: {exc.message}"
        if isinstance(exc, openai.APIConnectionError):
            broken = _broken_connection(exc)
            if broken == "refused":
                return f"connection refused by {str(exc.request.url).removesuffix('/chat/completions')}"
            if broken == "dropped":
                return "connection dropped"
            if isinstance(exc, openai.APITimeoutError):
                return f"connection timed out after {self.timeout:g} s"
            return f"connection error: {exc.__cause__ or exc}"
        return super().describe(exc)

    async def send(self, request: Request, extra_body: Mapping[str, Any] | None = None) -> Completion:
        """One chat completion request to ``request.endpoint``; ``extra_body`` adds server-specific fields to this
        request alone (llama.cpp's ``id_slot``), on top of :attr:`extra_body`."""
        settings = request.settings
        kwargs: dict[str, Any] = {
            "model": self.spec.name,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
        }
        if settings.top_p is not None:
            kwargs["top_p"] = settings.top_p
        if settings.stop:
            kwargs["stop"] = list(settings.stop)
        if settings.seed is not None:
            kwargs["seed"] = settings.seed
        if settings.logprobs:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = settings.top_logprobs or 5
        kwargs.update(self.extra_body)
        kwargs.update(extra_body or {})
        client = self._client(request.endpoint or self._urls[0])
        # the SDK's own client, auth, errors and response model, without re-validating a body we built from plain
        # strings and numbers (a quarter of the SDK's CPU per call)
        response = await client.post("/chat/completions", body=kwargs, cast_to=ChatCompletion)
        return _parse(response)

    async def aclose(self) -> None:
        """Close the HTTP clients."""
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.close()


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _cached_prompt_tokens(response: Any, prompt: int) -> int | None:
    """How many prompt tokens the server reused from its prompt cache, when it says: ``usage.prompt_tokens_details.
    cached_tokens`` (OpenAI, vLLM, recent llama.cpp), else llama.cpp's ``timings`` (``cache_n`` reused, or
    ``prompt_n`` computed); None when it says neither."""
    details = getattr(response.usage, "prompt_tokens_details", None)
    cached = _count(getattr(details, "cached_tokens", None))
    if cached is None and isinstance(timings := getattr(response, "timings", None), dict):
        cached = _count(timings.get("cache_n"))
        if cached is None and (computed := _count(timings.get("prompt_n"))) is not None:
            cached = max(prompt - computed, 0)
    return min(cached, prompt) if cached is not None else None


def _parse(response: Any) -> Completion:
    choices = getattr(response, "choices", None)
    if not choices:
        raise GarbageResponse(f"no choices in response: {str(response)[:200]!r}")
    choice = choices[0]
    message = getattr(choice, "message", None)
    text = getattr(message, "content", None)
    if not isinstance(text, str):
        raise GarbageResponse("response has no message content")
    usage = Usage()
    if response.usage is not None:
        prompt = response.usage.prompt_tokens or 0
        usage = Usage(
            prompt_tokens=prompt,
            completion_tokens=response.usage.completion_tokens or 0,
            cached_prompt_tokens=_cached_prompt_tokens(response, prompt),
        )
    logprobs = None
    if choice.logprobs is not None and choice.logprobs.content:
        logprobs = [
            TokenLogprob(
                token=t.token,
                logprob=t.logprob,
                top_logprobs=[TopLogprob(token=top.token, logprob=top.logprob) for top in (t.top_logprobs or [])],
            )
            for t in choice.logprobs.content
        ]
    return Completion(text=text, usage=usage, logprobs=logprobs, finish_reason=choice.finish_reason)


__all__ = ["OpenAIBackend"]
