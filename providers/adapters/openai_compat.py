"""OpenAI-compatible chat completions (OpenAI, DeepSeek, vLLM, OpenRouter, Ollama, the simulator)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai

from providers.base import Adapter, ChatRequest, Message, ProviderError, StreamEvent, Usage
from providers.errors import retry_after, transport_error, unexpected
from providers.http import make_aiohttp_client
from providers.sse import SSEDecoder

_FINISH_REASONS = {"stop": "stop", "length": "length", "content_filter": "content_filter"}


class OpenAICompatAdapter(Adapter):
    def __init__(self, account):
        super().__init__(account)
        # aiohttp under the SDK: its C parser reads a streamed chunk in a fifth of httpx's CPU time.
        self._http = make_aiohttp_client(read_timeout_s=account.idle_timeout_s)
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
        typed = {key: params.pop(key) for key in ("max_tokens", "temperature", "top_p", "seed") if key in params}
        finished = False
        started = False
        try:
            # The SDK sends the request and turns error statuses into its exceptions; the body is read
            # here, as plain dicts: the SDK's pydantic chunk models and line-by-line decoder cost three
            # times the rest of the relay per token.
            async with self._client.chat.completions.with_streaming_response.create(
                model=request.model,
                **wire_messages(request.messages),
                **typed,
                stream=True,
                stream_options={"include_usage": True},
                extra_body=params or None,
            ) as response:
                decoder = SSEDecoder()
                async for raw in response.iter_bytes():
                    for sse in decoder.feed(raw):
                        if sse.data.startswith("[DONE]"):
                            break
                        chunk = json.loads(sse.data)
                        if not isinstance(chunk, dict):
                            continue
                        if chunk.get("error"):
                            error = ProviderError("server", _message(chunk, "The provider reported an error."))
                            yield StreamEvent("error", error=error)
                            return
                        started = True
                        for event in events_from_chunk(chunk):
                            finished = finished or event.kind == "finish"
                            yield event
        except Exception as exc:  # noqa: BLE001 - every failure becomes a typed ProviderError
            yield StreamEvent("error", error=mid_stream(provider_error(exc)) if started else provider_error(exc))
            return
        if not finished:
            yield StreamEvent("error", error=ProviderError("stream_cut", "The stream ended before the model finished."))


def wire_messages(messages: tuple[Message, ...]) -> dict[str, Any]:
    """The conversation part of a chat completions body, exactly as sent (also the context preview's)."""
    return {"messages": [{"role": m.role, "content": m.content} for m in messages]}


def events_from_chunk(chunk: dict) -> list[StreamEvent]:
    events = []
    usage = chunk.get("usage")
    if usage:
        events.append(StreamEvent("usage", usage=usage_from(usage)))
    for choice in (chunk.get("choices") or ())[:1]:
        events.extend(events_from_delta(choice.get("delta") or {}))
        finish_reason = choice.get("finish_reason")
        if finish_reason:
            events.append(StreamEvent("finish", finish_reason=_FINISH_REASONS.get(finish_reason, "stop")))
    return events


def events_from_delta(delta: dict) -> list[StreamEvent]:
    events = []
    # vLLM ≥ 0.16 sends `reasoning`; DeepSeek's API and older vLLM send `reasoning_content`.
    reasoning = delta.get("reasoning") or delta.get("reasoning_content")
    if reasoning:
        events.append(StreamEvent("reasoning", text=reasoning))
    content = delta.get("content")
    if content:
        events.append(StreamEvent("text", text=content))
    return events


def usage_from(usage: dict) -> Usage:
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    # DeepSeek's own name for the cached count is `prompt_cache_hit_tokens`.
    cached = prompt_details.get("cached_tokens") or usage.get("prompt_cache_hit_tokens")
    return Usage(
        input_tokens=usage.get("prompt_tokens") or 0,
        cached_input_tokens=cached or 0,
        cache_write_tokens=prompt_details.get("cache_write_tokens") or 0,
        output_tokens=usage.get("completion_tokens") or 0,
        reasoning_tokens=completion_details.get("reasoning_tokens") or 0,
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
        timeouts=(openai.APITimeoutError, httpx2.TimeoutException),
        cuts=(httpx2.RemoteProtocolError, httpx2.ReadError),
        unreachable=(openai.APIConnectionError, httpx2.TransportError),
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


def _wait(response: httpx2.Response | None) -> float | None:
    return retry_after(response.headers if response is not None else None)
