"""Anthropic Messages API (Claude), streamed through the official SDK's raw events (WIRE-FORMATS.md §4)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anthropic

from providers.base import AccountConfig, Adapter, ChatRequest, Message, ProviderError, StreamEvent, Usage
from providers.errors import retry_after, status_error, transport_error, unexpected
from providers.http import make_client

# max_tokens is required by the API; this is the answer length when a model's params do not say.
DEFAULT_MAX_TOKENS = 8192
# Params messages.create() names itself; every other key (temperature, top_k, ...) goes in extra_body.
_NAMED_PARAMS = ("thinking", "stop_sequences", "metadata", "service_tier", "output_config", "speed")
# The API requires the first turn to be the user's; this stands in when a context opens otherwise.
OPENING_TURN = "(The conversation so far follows.)"

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}
_CONTEXT_HINTS = ("prompt is too long", "context window", "context limit", "context length")
# Codes by the error body's type, which wins over the status (`api_error`, any other 5xx, leaves it to the status).
_ERROR_TYPES = {
    "authentication_error": "auth",
    "permission_error": "auth",
    "billing_error": "quota",
    "rate_limit_error": "rate_limited",
    "overloaded_error": "overloaded",
    "timeout_error": "timeout",
}


class AnthropicAdapter(Adapter):
    def __init__(self, account: AccountConfig):
        super().__init__(account)
        self._client = anthropic.AsyncAnthropic(
            base_url=account.base_url or None,
            api_key=account.api_key,
            http_client=make_client(read_timeout_s=account.idle_timeout_s),
            max_retries=0,  # the engine owns retries
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def _list_models(self) -> list[str]:
        try:
            return [model.id async for model in self._client.models.list()]
        except Exception as exc:
            raise provider_error(exc) from exc

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        tally = UsageTally()
        stop_reason: str | None = None
        finished = False
        try:
            stream = await self._client.messages.create(**request_body(request), stream=True)
            async with stream:  # closes the response if the engine abandons us mid-stream
                async for event in stream:
                    kind = getattr(event, "type", None)
                    if kind == "message_start":
                        tally.absorb(event.message.usage)
                    elif kind in ("content_block_start", "content_block_delta"):
                        for out in events_from_block(event):
                            yield out
                    elif kind == "message_delta":
                        tally.absorb(event.usage)
                        stop_reason = event.delta.stop_reason or stop_reason
                        yield StreamEvent("usage", usage=tally.usage())
                    elif kind == "message_stop":
                        finished = True
                        yield StreamEvent("finish", finish_reason=_FINISH_REASONS.get(stop_reason or "", "stop"))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a typed ProviderError
            yield StreamEvent("error", error=provider_error(exc))
            return
        if not finished:
            yield StreamEvent("error", error=ProviderError("stream_cut", "The stream ended before the model finished."))


def request_body(request: ChatRequest) -> dict[str, Any]:
    """messages.create() arguments: system turns lifted out, same-role turns merged, params sorted."""
    params = dict(request.params)
    body: dict[str, Any] = {
        "model": request.model,
        **wire_messages(request.messages),
        "max_tokens": params.pop("max_tokens", None) or DEFAULT_MAX_TOKENS,
    }
    for key in _NAMED_PARAMS:
        if key in params:
            body[key] = params.pop(key)
    if params:
        body["extra_body"] = params
    return body


# Thinking budgets for a reasoning effort (budget_tokens must be at least 1024 and below max_tokens).
THINKING_BUDGETS = {"low": 1024, "medium": 4096, "high": 16384}
SENT_PARAMS = ("max_tokens", "temperature", "thinking")


def request_params(defaults: dict[str, Any], settings: dict[str, Any], kind: str) -> dict[str, Any]:
    """A model's params with a person's settings over them. A reasoning effort becomes extended thinking
    with a budget; Anthropic refuses `temperature` with thinking, and wants max_tokens above the budget,
    so a smaller (or unset) max_tokens is raised to just above it."""
    params = {**defaults, **{k: settings[k] for k in ("temperature", "max_tokens") if k in settings}}
    effort = settings.get("reasoning_effort")
    if effort is not None:
        budget = THINKING_BUDGETS[effort]
        params["thinking"] = {"type": "enabled", "budget_tokens": budget}
        params["max_tokens"] = max(params.get("max_tokens") or DEFAULT_MAX_TOKENS, budget + 1)
    if isinstance(params.get("thinking"), dict) and params["thinking"].get("type") != "disabled":
        params.pop("temperature", None)
    return params


def sent_params(params: dict[str, Any]) -> dict[str, Any]:
    sent = {name: params[name] for name in SENT_PARAMS if name in params}
    return {**sent, "max_tokens": sent.get("max_tokens") or DEFAULT_MAX_TOKENS}


def wire_messages(messages: tuple[Message, ...]) -> dict[str, Any]:
    """The conversation part of a Messages API body, exactly as sent (also the context preview's)."""
    system, turns = split_messages(messages)
    return {"system": system, "messages": turns} if system else {"messages": turns}


def split_messages(messages: tuple[Message, ...]) -> tuple[str, list[dict[str, str]]]:
    """Anthropic has no system role and wants user/assistant turns to alternate, starting with the user."""
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content.strip())
    turns: list[dict[str, str]] = []
    for message in messages:
        if message.role == "system" or not message.content.strip():
            continue  # the API rejects blank text blocks
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": message.role, "content": message.content})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": OPENING_TURN})
    return system, turns


def events_from_block(event: Any) -> list[StreamEvent]:
    """Text and thinking from a content block's start or delta; signatures, citations and tool input are not ours."""
    if event.type == "content_block_start":
        block = event.content_block
        if block.type == "text" and block.text:
            return [StreamEvent("text", text=block.text)]
        if block.type == "thinking" and block.thinking:
            return [StreamEvent("reasoning", text=block.thinking)]
        return []
    delta = event.delta
    if delta.type == "text_delta" and delta.text:
        return [StreamEvent("text", text=delta.text)]
    if delta.type == "thinking_delta" and delta.thinking:
        return [StreamEvent("reasoning", text=delta.thinking)]
    return []


@dataclass
class UsageTally:
    """Anthropic's usage as it arrives: message_start has input and cache counts, message_delta the
    authoritative cumulative output (and, since 2025, the input/cache counts again). Later non-null
    values overwrite earlier ones; nothing is summed across events."""

    input_tokens: int = 0
    cache_read: int = 0
    cache_write: int = 0
    output_tokens: int = 0
    thinking_tokens: int = 0

    def absorb(self, usage: Any) -> None:
        if usage is None:
            return
        for attr, field in (
            ("input_tokens", "input_tokens"),
            ("cache_read", "cache_read_input_tokens"),
            ("cache_write", "cache_creation_input_tokens"),
            ("output_tokens", "output_tokens"),
        ):
            value = getattr(usage, field, None)
            if value is not None:
                setattr(self, attr, value)
        details = getattr(usage, "output_tokens_details", None)
        if details is not None and getattr(details, "thinking_tokens", None) is not None:
            self.thinking_tokens = details.thinking_tokens

    def usage(self) -> Usage:
        # Anthropic's input_tokens excludes cache reads and writes; ours includes them.
        return Usage(
            input_tokens=self.input_tokens + self.cache_read + self.cache_write,
            cached_input_tokens=self.cache_read,
            cache_write_tokens=self.cache_write,
            output_tokens=self.output_tokens,
            reasoning_tokens=self.thinking_tokens,
        )


def provider_error(exc: Exception) -> ProviderError:
    if isinstance(exc, anthropic.APIStatusError):
        return _status_error(exc)
    transport = transport_error(exc, timeouts=(anthropic.APITimeoutError,), unreachable=(anthropic.APIConnectionError,))
    if transport is not None:
        return transport
    if isinstance(exc, anthropic.APIError):
        return ProviderError("server", str(exc.message))
    return unexpected(exc)


def _status_error(exc: anthropic.APIStatusError) -> ProviderError:
    """By the body's error type first: errors inside a stream arrive with the stream's HTTP 200."""
    status = exc.status_code
    kind = exc.type or ""
    message = str(exc.api_message or f"HTTP {status}")
    lowered = message.lower()
    named = "quota" if "credit balance" in lowered else _ERROR_TYPES.get(kind)
    if named is None and status == 200 and kind != "invalid_request_error":
        named = "server"
    too_long = any(hint in lowered for hint in _CONTEXT_HINTS)
    return status_error(status, message, named=named, too_long=too_long, retry_after=retry_after(exc.response.headers))
