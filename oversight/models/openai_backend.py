"""``openai/<model>``: any OpenAI-compatible chat server through the official SDK.

Endpoints come from the spec (``?base_url=URL1,URL2``), ``OPENAI_BASE_URL`` (comma-separated) or the SDK's
default. Requests go to the endpoint with the fewest requests in flight, so adding a replica adds throughput.
The SDK's own retries are off: ours honour ``Retry-After``, back off with jitter and give up after a bounded
number of attempts, and a rejected key or unknown model stops the run at once instead of failing every game.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import os
import time
from typing import Any, ClassVar

import httpx2
import openai
from asyncio_throttle import Throttler
from openai.types.chat import ChatCompletion
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

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
from oversight.secrets import env_secret, redact

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: servers such as vLLM or llama.cpp accept any key; the SDK insists on having one
PLACEHOLDER_KEY = "no-key-required"
MAX_RETRY_AFTER = 60.0

log = logging.getLogger(__name__)

class GarbageResponse(Exception):
    """The server answered 200 with something that is not a usable chat completion."""

class _Endpoint:
    def __init__(self, base_url: str, requests_per_second: float | None) -> None:
        self.base_url = base_url
        self.in_flight = 0
        self.client: openai.AsyncOpenAI | None = None
        # asyncio-throttle counts requests per period; a fractional rate becomes one request per 1/rate seconds
        self.throttler: Throttler | None = None
        if requests_per_second:
            if requests_per_second >= 1:
                self.throttler = Throttler(rate_limit=int(requests_per_second), period=1.0)
            else:
                self.throttler = Throttler(rate_limit=1, period=1.0 / requests_per_second)

def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        with contextlib.suppress(ValueError):
            return float(ms) / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, when.timestamp() - time.time()) if when else None

def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return isinstance(
        exc, (openai.APIConnectionError, openai.APIResponseValidationError, json.JSONDecodeError, GarbageResponse)
    )

def _describe(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {exc.message}"
    if isinstance(exc, openai.APITimeoutError):
        return "request timed out"
    if isinstance(exc, openai.APIConnectionError):
        return f"connection error: {exc.__cause__ or exc}"
    return f"{type(exc).__name__}: {exc}"

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
        try:
            rps = float(params["rps"]) if "rps" in params else options.requests_per_second
            self.timeout = float(params.get("timeout", options.timeout))
            self.max_attempts = int(params.get("max_attempts", options.max_attempts))
        except ValueError as exc:
            raise UserError(f"model spec {spec.raw!r}: {exc}") from None
        self._endpoints = [_Endpoint(url, rps) for url in urls]
        self._backoff = wait_exponential_jitter(multiplier=options.backoff, max=20.0, jitter=options.backoff)
        self._next = 0

    def cache_identity(self) -> dict[str, Any]:
        # the replica group, not the replica that happened to answer: replicas serve the same weights
        return {"provider": self.provider, "base_url": sorted(e.base_url for e in self._endpoints), "model": self.spec.name}

    def _client(self, endpoint: _Endpoint) -> openai.AsyncOpenAI:
        if endpoint.client is None:
            limit = self.options.max_connections
            endpoint.client = openai.AsyncOpenAI(
                base_url=endpoint.base_url,
                api_key=self._api_key,
                max_retries=0,
                timeout=self.timeout,
                http_client=openai.DefaultAioHttpClient(
                    limits=httpx2.Limits(max_connections=limit, max_keepalive_connections=limit),
                    timeout=self.timeout,
                ),
            )
        return endpoint.client

    def _pick_endpoint(self) -> _Endpoint:
        # least in flight, starting the scan at a rotating index so ties spread evenly
        n = len(self._endpoints)
        start, self._next = self._next, (self._next + 1) % n
        return min((self._endpoints[(start + i) % n] for i in range(n)), key=lambda e: e.in_flight)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None and (after := _retry_after(exc)) is not None:
            return min(after, MAX_RETRY_AFTER)
        return self._backoff(state)

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        reason = _describe(exc) if exc else "no result"
        log.warning(redact(f"{self.spec.raw}: attempt {state.attempt_number} failed ({reason}); retrying in {delay:.2f}s"))

    async def complete(self, messages: list[ChatMessage], settings: GenerationSettings, sample: int) -> Completion:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(_is_retryable),
            before_sleep=self._log_retry,
            reraise=True,
        )
        endpoint = self._endpoints[0]
        try:
            async for attempt in retrying:
                with attempt:
                    endpoint = self._pick_endpoint()
                    return await self._request(endpoint, messages, settings)
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
            if _is_retryable(exc):
                raise ModelCallError(redact(f"{where}: gave up after {self.max_attempts} attempts: {_describe(exc)}"))
            raise ModelCallError(redact(f"{where}: request rejected: {_describe(exc)}")) from None
        except (openai.APIError, json.JSONDecodeError, GarbageResponse) as exc:
            where = f"{self.spec.raw} at {endpoint.base_url}"
            raise ModelCallError(
                redact(f"{where}: gave up after {self.max_attempts} attempts: {_describe(exc)}")
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")

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
        slots = self.options.connection_slots or contextlib.nullcontext()
        async with slots:
            async with endpoint.throttler or contextlib.nullcontext():
                endpoint.in_flight += 1
                try:
                    # the SDK's own client, auth, errors and response model, without re-validating a body we built
                    # from plain strings and numbers (a quarter of the SDK's CPU per call)
                    response = await client.post("/chat/completions", body=kwargs, cast_to=ChatCompletion)
                finally:
                    endpoint.in_flight -= 1
        return _parse(response)

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
