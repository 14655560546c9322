"""``openai/<model>``: any OpenAI-compatible chat server through the official SDK.

Endpoints come from the spec (``?base_url=URL1,URL2``), ``OPENAI_BASE_URL`` (comma-separated) or the SDK's
default. Each endpoint's requests in flight adapt to what it can take (:mod:`oversight.models.concurrency`), and a
request goes to the endpoint with the most room, so adding a replica adds throughput. The SDK's own retries are
off: ours (:mod:`oversight.models.retry`) honour ``Retry-After``, back off with jitter and give up after a bounded
number of attempts, and a rejected key or unknown model stops the run at once instead of failing every game.
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

import aiohttp
import httpx2
import openai
from asyncio_throttle import Throttler
from openai.types.chat import ChatCompletion

from oversight.errors import FatalRunError, UserError
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
from oversight.models.concurrency import AdaptiveLimiter, ServerTimeout, Ticket
from oversight.models.retry import GaveUp, RetryPolicy
from oversight.secrets import env_secret, redact

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: servers such as vLLM or llama.cpp accept any key; the SDK insists on having one
PLACEHOLDER_KEY = "no-key-required"
#: statuses by which a server says it has more than it can take: fewer requests in flight, then
OVERLOAD_STATUSES = frozenset({408, 429, 503, 504})
#: what a connection that was accepted and then closed under a request looks like, per transport
_DROPPED = (ConnectionResetError, BrokenPipeError, aiohttp.ServerDisconnectedError, httpx2.RemoteProtocolError)


class GarbageResponse(Exception):
    """The server answered 200 with something that is not a usable chat completion."""


class _Endpoint:
    def __init__(self, base_url: str, requests_per_second: float | None, limiter: AdaptiveLimiter) -> None:
        self.base_url = base_url
        self.limiter = limiter
        self.client: openai.AsyncOpenAI | None = None
        # asyncio-throttle counts requests per period; a fractional rate becomes one request per 1/rate seconds
        self.throttler: Throttler | None = None
        if requests_per_second:
            if requests_per_second >= 1:
                self.throttler = Throttler(rate_limit=int(requests_per_second), period=1.0)
            else:
                self.throttler = Throttler(rate_limit=1, period=1.0 / requests_per_second)


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return isinstance(
        exc,
        (
            ServerTimeout,
            openai.APIConnectionError,
            openai.APIResponseValidationError,
            json.JSONDecodeError,
            GarbageResponse,
        ),
    )


def _is_overload(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in OVERLOAD_STATUSES
    return isinstance(exc, openai.APITimeoutError) and _broken_connection(exc) is None


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


def _reason(exc: BaseException) -> str:
    """What a retry is counted under in the run's summary line."""
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}"
    if isinstance(exc, openai.APIConnectionError) and (broken := _broken_connection(exc)):
        return f"connection {broken}"
    if isinstance(exc, (ServerTimeout, openai.APITimeoutError)):
        return "timed out"
    if isinstance(exc, openai.APIConnectionError):
        return "connection error"
    return "malformed reply"


class OpenAIBackend(ModelBackend):
    provider: ClassVar[str] = "openai"
    known_params: ClassVar[frozenset[str]] = frozenset({"base_url", "api_key_env", "rps", "timeout", "max_attempts"})

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
        rps = spec.positive("rps", float, options.requests_per_second)
        self.timeout = spec.positive("timeout", float, options.timeout)
        self.retry = RetryPolicy(
            spec.positive("max_attempts", int, options.max_attempts),
            options.backoff,
            _is_retryable,
            describe=self._describe,
            reason=_reason,
            stats=options.retries,
        )
        self._endpoints = [_Endpoint(url, rps, options.limiter(url)) for url in urls]
        self._next = 0

    def cache_identity(self) -> dict[str, Any]:
        # the replica group, not the replica that happened to answer: replicas serve the same weights
        return {"provider": self.provider, "base_url": sorted(e.base_url for e in self._endpoints), "model": self.spec.name}

    def _client(self, endpoint: _Endpoint) -> openai.AsyncOpenAI:
        if endpoint.client is None:
            limit = self.options.max_connections
            # only connecting is timed here: the reply is timed by the limiter's clock, which leaves out the time a
            # request waits behind our own in the server's queue
            timeout = httpx2.Timeout(None, connect=self.timeout)
            endpoint.client = openai.AsyncOpenAI(
                base_url=endpoint.base_url,
                api_key=self._api_key,
                max_retries=0,
                timeout=timeout,
                http_client=openai.DefaultAioHttpClient(
                    limits=httpx2.Limits(max_connections=limit, max_keepalive_connections=limit),
                    timeout=timeout,
                ),
            )
        return endpoint.client

    def _pick_endpoint(self) -> _Endpoint:
        # the most room for another request, starting the scan at a rotating index so ties spread evenly
        n = len(self._endpoints)
        start, self._next = self._next, (self._next + 1) % n
        return min((self._endpoints[(start + i) % n] for i in range(n)), key=lambda e: e.limiter.load)

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, openai.APIStatusError):
            return f"HTTP {exc.status_code}: {exc.message}"
        if isinstance(exc, openai.APIConnectionError):
            broken = _broken_connection(exc)
            if broken == "refused":
                return f"connection refused by {str(exc.request.url).removesuffix('/chat/completions')}"
            if broken == "dropped":
                return "connection dropped"
            if isinstance(exc, openai.APITimeoutError):
                return f"connection timed out after {self.timeout:g} s"
            return f"connection error: {exc.__cause__ or exc}"
        if isinstance(exc, ServerTimeout):
            return str(exc)
        return f"{type(exc).__name__}: {exc}"

    async def complete(self, messages: list[ChatMessage], settings: GenerationSettings, sample: int) -> Completion:
        endpoint = self._endpoints[0]

        async def attempt() -> Completion:
            nonlocal endpoint
            endpoint = self._pick_endpoint()
            return await self._request(endpoint, messages, settings)

        try:
            return await self.retry.call(self.spec.raw, attempt)
        except GaveUp as exc:
            raise ModelCallError(redact(f"{self.spec.raw} at {endpoint.base_url}: {exc}")) from None
        except openai.APIStatusError as exc:
            where = f"{self.spec.raw} at {endpoint.base_url}"
            if exc.status_code in (401, 403):
                raise FatalRunError(
                    f"{where}: the server rejected the API key (HTTP {exc.status_code}); check OPENAI_API_KEY or .env"
                ) from None
            if exc.status_code == 404:
                raise FatalRunError(
                    f"{where}: not found (HTTP 404); check the model name and base URL ({redact(exc.message)})"
                ) from None
            raise ModelCallError(redact(f"{where}: request rejected: {self._describe(exc)}")) from None

    async def _request(self, endpoint: _Endpoint, messages: list[ChatMessage], settings: GenerationSettings) -> Completion:
        kwargs: dict[str, Any] = {
            "model": self.spec.name,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
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
        client = self._client(endpoint)

        async def send(ticket: Ticket) -> Completion:
            # the SDK's own client, auth, errors and response model, without re-validating a body we built
            # from plain strings and numbers (a quarter of the SDK's CPU per call)
            response = await client.post("/chat/completions", body=kwargs, cast_to=ChatCompletion)
            completion = _parse(response)
            ticket.size = completion.usage.completion_tokens
            return completion

        pace = endpoint.throttler.acquire if endpoint.throttler else None
        return await endpoint.limiter.call(send, self.timeout, _is_overload, pace)

    async def aclose(self) -> None:
        for endpoint in self._endpoints:
            if endpoint.client is not None:
                await endpoint.client.close()
                endpoint.client = None

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
        usage = Usage(
            prompt_tokens=response.usage.prompt_tokens or 0,
            completion_tokens=response.usage.completion_tokens or 0,
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
