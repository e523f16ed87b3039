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
        # Streams are posted on the SDK's own client, to its URL with its headers, but not through its
        # request building: its option parsing and body transform cost 1.3 ms of CPU per request, and
        # the models of a fan-out are asked one after another on the loop, so the last waited for all.
        self._chat_url = f"{self._client.base_url}chat/completions"
        self._headers = {
            name: value
            for name, value in {**self._client.default_headers, **self._client.auth_headers}.items()
            if isinstance(value, str)  # the SDK marks headers it leaves out with a placeholder
        }

    async def aclose(self) -> None:
        await self._client.close()

    async def _list_models(self) -> list[str]:
        try:
            page = await self._client.models.list()
        except Exception as exc:
            raise provider_error(exc) from exc
        return [item.id for item in page.data]

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        params = dict(request.params)
        typed = {key: params.pop(key) for key in ("max_tokens", "temperature", "top_p", "seed") if key in params}
        body = {
            "model": request.model,
            **wire_messages(request.messages),
            **typed,
            "stream": True,
            "stream_options": {"include_usage": True},
            **params,
        }
        finished = False
        started = False
        try:
            # The body is read here, as plain dicts: the SDK's pydantic chunk models and line-by-line
            # decoder cost three times the rest of the relay per token.
            async with self._http.stream("POST", self._chat_url, json=body, headers=self._headers) as response:
                if not response.is_success:
                    await response.aread()
                    error = _status_error(response.status_code, _error_body(response), response.headers)
                    yield StreamEvent("error", error=error)
                    return
                decoder = SSEDecoder()
                async for raw in response.aiter_bytes():
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
        return _status_error(exc.status_code, exc.body, exc.response.headers)
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


def _error_body(response: httpx2.Response) -> object:
    """An error response's body as the SDK gives it with its exceptions: the `error` object when the
    JSON has one, else the JSON, else the text."""
    try:
        body = json.loads(response.text)
    except ValueError:
        return response.text
    return body.get("error", body) if isinstance(body, dict) else body


def _status_error(status: int, body: object, headers) -> ProviderError:
    body = body if isinstance(body, dict) else {}
    code = str(body.get("code") or "")
    kind = str(body.get("type") or "")
    message = _message(body, f"HTTP {status}")
    if status in (401, 403):
        return ProviderError("auth", message)
    if status == 429 and "insufficient_quota" in (code, kind):
        return ProviderError("quota", message)
    if status == 429:
        return ProviderError("rate_limited", message, retryable=True, retry_after=retry_after(headers))
    if status == 402:
        return ProviderError("quota", message)
    if status == 400 and "context_length" in code:
        return ProviderError("context_length", message)
    if status in (503, 529):
        return ProviderError("overloaded", message, retryable=True, retry_after=retry_after(headers))
    if status >= 500:
        return ProviderError("server", message, retryable=True, retry_after=retry_after(headers))
    if status == 408:
        return ProviderError("timeout", message, retryable=True)
    return ProviderError("bad_request", message)


def _message(body, default: str) -> str:
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            return str(message)
    return default
