"""OpenAI-compatible chat completions (OpenAI, DeepSeek, vLLM, OpenRouter, Ollama, the simulator)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai

from providers.base import Adapter, ChatRequest, Message, ProviderError, StreamEvent, Usage
from providers.errors import retry_after, status_error, transport_error, unexpected
from providers.http import make_client, make_session
from providers.sse import SSEDecoder

_FINISH_REASONS = {"stop": "stop", "length": "length", "content_filter": "content_filter"}


class OpenAICompatAdapter(Adapter):
    def __init__(self, account):
        super().__init__(account)
        self._client = openai.AsyncOpenAI(
            base_url=account.base_url or None,
            # Local servers (vLLM without --api-key, Ollama) take any key; the SDK insists on one.
            api_key=account.api_key or "unused",
            http_client=make_client(read_timeout_s=account.idle_timeout_s),
            max_retries=0,  # the engine owns retries
        )
        # Streams are posted to the SDK's URL with its headers, but neither through its request building
        # (its option parsing and body transform cost 1.3 ms of CPU per request, and the models of a
        # fan-out are asked one after another on the loop, so the last waited for all) nor through
        # httpx2's (a further quarter of a millisecond): on aiohttp itself, the transport under the SDK.
        self._session: aiohttp.ClientSession | None = None  # made on first use, on the loop that streams
        self._chat_url = f"{self._client.base_url}chat/completions"
        self._headers = {
            name: value
            for name, value in {**self._client.default_headers, **self._client.auth_headers}.items()
            if isinstance(value, str)  # the SDK marks headers it leaves out with a placeholder
        }

    async def aclose(self) -> None:
        await self._client.close()
        if self._session is not None:
            await self._session.close()

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
            if self._session is None:
                self._session = make_session()
            # The body is read here, as plain dicts: the SDK's pydantic chunk models and line-by-line
            # decoder cost three times the rest of the relay per token.
            async with self._session.post(self._chat_url, json=body, headers=self._headers) as response:
                if not response.ok:
                    text = (await response.read()).decode(errors="replace")
                    yield StreamEvent(
                        "error", error=_status_error(response.status, _error_body(text), response.headers)
                    )
                    return
                decoder = SSEDecoder()
                async for raw in response.content.iter_any():
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


# Generation settings as the body names them (also what the context preview shows).
SENT_PARAMS = ("temperature", "max_tokens", "max_completion_tokens", "reasoning_effort")


def request_params(defaults: dict[str, Any], settings: dict[str, Any], kind: str) -> dict[str, Any]:
    """A model's params with a person's settings (temperature, max_tokens, reasoning_effort) over them:
    OpenAI itself takes the length limit as `max_completion_tokens` (its reasoning models refuse
    `max_tokens`), every other OpenAI-compatible server as `max_tokens`."""
    params = dict(defaults)
    if "max_tokens" in settings:
        params.pop("max_tokens", None)
        params.pop("max_completion_tokens", None)
        params["max_completion_tokens" if kind == "openai" else "max_tokens"] = settings["max_tokens"]
    for name in ("temperature", "reasoning_effort"):
        if name in settings:
            params[name] = settings[name]
    return params


def sent_params(params: dict[str, Any]) -> dict[str, Any]:
    return {name: params[name] for name in SENT_PARAMS if name in params}


def wire_messages(messages: tuple[Message, ...]) -> dict[str, Any]:
    """The conversation part of a chat completions body, exactly as sent (also the context preview's)."""
    return {"messages": [{"role": m.role, "content": m.content} for m in messages]}


def events_from_chunk(chunk: dict) -> list[StreamEvent]:
    events = []
    usage = chunk.get("usage")
    if usage:
        events.append(StreamEvent("usage", usage=usage_from(usage)))
    choices = chunk.get("choices")
    if choices:
        choice = choices[0]
        delta = choice.get("delta")
        if delta:
            # vLLM ≥ 0.16 sends `reasoning`; DeepSeek's API and older vLLM send `reasoning_content`.
            reasoning = delta.get("reasoning") or delta.get("reasoning_content")
            if reasoning:
                events.append(StreamEvent("reasoning", reasoning))
            content = delta.get("content")
            if content:
                events.append(StreamEvent("text", content))
        finish_reason = choice.get("finish_reason")
        if finish_reason:
            events.append(StreamEvent("finish", finish_reason=_FINISH_REASONS.get(finish_reason, "stop")))
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
    transport = transport_error(exc, timeouts=(openai.APITimeoutError,), unreachable=(openai.APIConnectionError,))
    if transport is not None:
        return transport
    if isinstance(exc, openai.APIError):
        return ProviderError("server", _message(exc.body, str(exc.message)))
    return unexpected(exc)


def _error_body(text: str) -> object:
    """An error response's body as the SDK gives it with its exceptions: the `error` object when the
    JSON has one, else the JSON, else the text."""
    try:
        body = json.loads(text)
    except ValueError:
        return text
    return body.get("error", body) if isinstance(body, dict) else body


def _status_error(status: int, body: object, headers) -> ProviderError:
    body = body if isinstance(body, dict) else {}
    code = str(body.get("code") or "")
    quota = status == 429 and "insufficient_quota" in (code, str(body.get("type") or ""))
    return status_error(
        status,
        _message(body, f"HTTP {status}"),
        named="quota" if quota else None,  # a 429 that waiting does not mend
        too_long=status == 400 and "context_length" in code,
        retry_after=retry_after(headers),
    )


def _message(body, default: str) -> str:
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            return str(message)
    return default
