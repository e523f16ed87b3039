"""OpenAI-compatible chat completions (OpenAI, DeepSeek, vLLM, OpenRouter, Ollama, the simulator)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai

from providers.base import Adapter, ChatRequest, Message, ProviderError, StreamEvent, Usage
from providers.errors import retry_after, transport_error, unexpected
from providers.http import make_http_client

_FINISH_REASONS = {"stop": "stop", "length": "length", "content_filter": "content_filter"}


class OpenAICompatAdapter(Adapter):
    def __init__(self, account):
        super().__init__(account)
        self._http = make_http_client(read_timeout_s=account.idle_timeout_s)
        self._client = openai.AsyncOpenAI(
            base_url=account.base_url or None,
            # Local servers (vLLM without --api-key, Ollama) take any key; the SDK insists on one.
            api_key=account.api_key or "unused",
            http_client=self._http,
            max_retries=0,  # the engine owns retries
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def list_models(self) -> list[str]:
        try:
            page = await self._client.models.list()
        except Exception as exc:
            raise provider_error(exc) from exc
        return [item.id for item in page.data]

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        params = dict(request.params)
        body = {
            "model": request.model,
            **wire_messages(request.messages),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        for key in ("max_tokens", "temperature", "top_p", "seed"):
            if key in params:
                body[key] = params.pop(key)
        finished = False
        started = False
        try:
            stream = await self._client.chat.completions.create(**body, extra_body=params or None)
            async for chunk in stream:
                started = True
                if chunk.usage is not None:
                    yield StreamEvent("usage", usage=usage_from(chunk.usage))
                for choice in chunk.choices[:1]:
                    for event in events_from_delta(choice.delta):
                        yield event
                    if choice.finish_reason:
                        finished = True
                        reason = _FINISH_REASONS.get(choice.finish_reason, "stop")
                        yield StreamEvent("finish", finish_reason=reason)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a typed ProviderError
            yield StreamEvent("error", error=mid_stream(provider_error(exc)) if started else provider_error(exc))
            return
        if not finished:
            yield StreamEvent("error", error=ProviderError("stream_cut", "The stream ended before the model finished."))


def wire_messages(messages: tuple[Message, ...]) -> dict[str, Any]:
    """The conversation part of a chat completions body, exactly as sent (also the context preview's)."""
    return {"messages": [{"role": m.role, "content": m.content} for m in messages]}


def events_from_delta(delta) -> list[StreamEvent]:
    events = []
    extra = delta.model_extra or {}
    # vLLM ≥ 0.16 sends `reasoning`; DeepSeek's API and older vLLM send `reasoning_content`.
    reasoning = extra.get("reasoning") or extra.get("reasoning_content")
    if reasoning:
        events.append(StreamEvent("reasoning", text=reasoning))
    if delta.content:
        events.append(StreamEvent("text", text=delta.content))
    return events


def usage_from(usage) -> Usage:
    extra = usage.model_extra or {}
    prompt_details = usage.prompt_tokens_details
    completion_details = usage.completion_tokens_details
    cached = (prompt_details.cached_tokens if prompt_details else None) or extra.get(
        "prompt_cache_hit_tokens"  # DeepSeek's own name for the same count
    )
    cache_write = getattr(prompt_details, "cache_write_tokens", None) if prompt_details else None
    if cache_write is None and prompt_details is not None:
        cache_write = (prompt_details.model_extra or {}).get("cache_write_tokens")
    return Usage(
        input_tokens=usage.prompt_tokens or 0,
        cached_input_tokens=cached or 0,
        cache_write_tokens=cache_write or 0,
        output_tokens=usage.completion_tokens or 0,
        reasoning_tokens=(completion_details.reasoning_tokens if completion_details else None) or 0,
    )


def mid_stream(error: ProviderError) -> ProviderError:
    """A connection lost once chunks were flowing is a cut stream, not an unreachable provider
    (the SDK wraps both in APIConnectionError)."""
    if error.code == "network":
        return ProviderError("stream_cut", "The provider closed the connection mid-stream.")
    return error


def provider_error(exc: Exception) -> ProviderError:
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc)
    transport = transport_error(
        exc,
        timeouts=(openai.APITimeoutError, httpx.TimeoutException),
        cuts=(httpx.RemoteProtocolError, httpx.ReadError),
        unreachable=(openai.APIConnectionError, httpx.TransportError),
    )
    if transport is not None:
        return transport
    if isinstance(exc, openai.APIError):
        return ProviderError("server", _message(exc.body, str(exc.message)))
    return unexpected(exc)


def _status_error(exc: openai.APIStatusError) -> ProviderError:
    status = exc.status_code
    body = exc.body if isinstance(exc.body, dict) else {}
    code = str(body.get("code") or "")
    kind = str(body.get("type") or "")
    message = _message(body, f"HTTP {status}")
    if status in (401, 403):
        return ProviderError("auth", message)
    if status == 429 and "insufficient_quota" in (code, kind):
        return ProviderError("quota", message)
    if status == 429:
        return ProviderError("rate_limited", message, retryable=True, retry_after=_wait(exc.response))
    if status == 402:
        return ProviderError("quota", message)
    if status == 400 and "context_length" in code:
        return ProviderError("context_length", message)
    if status in (503, 529):
        return ProviderError("overloaded", message, retryable=True, retry_after=_wait(exc.response))
    if status >= 500:
        return ProviderError("server", message, retryable=True, retry_after=_wait(exc.response))
    if status == 408:
        return ProviderError("timeout", message, retryable=True)
    return ProviderError("bad_request", message)


def _message(body, default: str) -> str:
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            return str(message)[:2000]
    return default


def _wait(response: httpx.Response | None) -> float | None:
    return retry_after(response.headers if response is not None else None)
