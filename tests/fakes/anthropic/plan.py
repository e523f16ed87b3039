"""Turns a Messages API request body into a fully decided simulated response (a Plan).

Validation mirrors the real API's answers for the mistakes an adapter can make (a "system" role in
``messages``, no ``max_tokens``, a thinking budget at or above ``max_tokens``, a prompt past the
context window). Everything random derives from the request, so the same body gives the same text.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from providers.simulator.plan import Fault, options
from providers.simulator.text import count_tokens, tokens_for
from tests.fakes.anthropic import catalogue, wire
from tests.fakes.anthropic.catalogue import SimulatedClaude

THINKING_MIN_BUDGET = 1024
STOP_REASONS = (
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
)
_SYSTEM_ROLE_MESSAGE = (
    'messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, '
    'not "system" as an input message role.'
)
_BUDGET_MESSAGE = (
    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
)


class ApiError(Exception):
    """A client error to answer with an Anthropic error body."""

    def __init__(self, status: int, message: str, type_: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_ or wire.error_type_for(status)


@dataclass(frozen=True)
class Plan:
    message_id: str
    model: str
    stream: bool
    thinking: list[str]
    signature: str
    text: list[str]
    stop_reason: str
    stop_sequence: str | None
    input_tokens: int  # excludes cache reads and writes, as Anthropic counts it
    cache_read: int
    cache_write: int
    ttft_s: float
    interval_s: float  # seconds between tokens; 0 means "as fast as possible"
    legacy_usage: bool  # message_delta carries output_tokens only, as before 2025
    error_type: str  # of an injected in-stream error
    fault: Fault | None

    @property
    def tokens(self) -> list[tuple[str, str]]:
        """(block type, text) for every generated token, thinking first."""
        return [("thinking", t) for t in self.thinking] + [("text", t) for t in self.text]

    def start_usage(self) -> wire.JSON:
        return wire.start_usage(self.input_tokens, self.cache_read, self.cache_write)

    def final_usage(self) -> wire.JSON:
        output = len(self.thinking) + len(self.text)
        return wire.delta_usage(
            self.input_tokens, self.cache_read, self.cache_write, output, len(self.thinking), self.legacy_usage
        )


def resolve_model(body: dict[str, Any]) -> SimulatedClaude:
    model_id = body.get("model")
    if not isinstance(model_id, str) or not model_id:
        raise ApiError(400, "model: Field required")
    model = catalogue.get(model_id)
    if model is None:
        raise ApiError(404, f"model: {model_id}")
    return model


def build_plan(body: dict[str, Any], model: SimulatedClaude, fault: Fault | None, error_type: str | None) -> Plan:
    max_tokens = _max_tokens(body, model)
    messages = _messages(body)
    budget = _thinking_budget(body, max_tokens)
    opts = options(body)
    system = body.get("system")
    input_tokens = _content_tokens(system) + sum(_content_tokens(m.get("content")) for m in messages)
    cache_read = _int(opts, "cache_read", 0, minimum=0)
    cache_write = _int(opts, "cache_write", 0, minimum=0)
    window = _int(opts, "context_window", model.context_window, minimum=1)
    total = input_tokens + cache_read + cache_write
    if total > window:
        raise ApiError(400, f"prompt is too long: {total} tokens > {window} maximum")

    seed = model.id + "\n" + json.dumps({"system": system, "messages": messages}, sort_keys=True, ensure_ascii=False)
    length = _int(opts, "length", model.length, minimum=1)
    thinking_len = 0
    if budget is not None:
        thinking_len = min(_int(opts, "reasoning_length", length // 2, minimum=0), budget)
    thinking = tokens_for(seed + "\nthinking", thinking_len)
    text, stop_sequence = _stop_at_sequence(tokens_for(seed, length), body.get("stop_sequences"))
    # max_tokens caps thinking and answer together; thinking comes first.
    kept_thinking = thinking[:max_tokens]
    kept_text = text[: max(0, max_tokens - len(kept_thinking))]
    truncated = len(kept_thinking) + len(kept_text) < len(thinking) + len(text)
    stop_reason = "max_tokens" if truncated else "stop_sequence" if stop_sequence else "end_turn"
    rate = _float(opts, "tokens_per_s", model.tokens_per_s, minimum=0.0)
    return Plan(
        message_id=wire.new_id("msg_"),
        model=model.id,
        stream=body.get("stream") is True,
        thinking=kept_thinking,
        signature=_signature(seed, kept_thinking),
        text=kept_text,
        stop_reason=_forced_stop_reason(opts) or stop_reason,
        stop_sequence=None if truncated else stop_sequence,
        input_tokens=input_tokens,
        cache_read=cache_read,
        cache_write=cache_write,
        ttft_s=_float(opts, "ttft_ms", model.ttft_ms, minimum=0.0) / 1000.0,
        interval_s=1.0 / rate if rate > 0 else 0.0,
        legacy_usage=bool(opts.get("legacy_usage")),
        error_type=error_type or "overloaded_error",
        fault=fault,
    )


def _max_tokens(body: dict[str, Any], model: SimulatedClaude) -> int:
    value = body.get("max_tokens")
    if value is None:
        raise ApiError(400, "max_tokens: Field required")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ApiError(400, "max_tokens: Input should be greater than or equal to 1")
    if value > model.max_output_tokens:
        limit = model.max_output_tokens
        raise ApiError(
            400, f"max_tokens: {value} > {limit}, which is the maximum allowed number of output tokens for {model.id}"
        )
    return value


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if messages is None:
        raise ApiError(400, "messages: Field required")
    if not isinstance(messages, list):
        raise ApiError(400, "messages: Input should be a valid list")
    if not messages:
        raise ApiError(400, "messages: at least one message is required")
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role == "system":
            raise ApiError(400, _SYSTEM_ROLE_MESSAGE)
        if role not in ("user", "assistant"):
            raise ApiError(400, f"messages.{index}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if isinstance(content, str) and not content.strip():
            raise ApiError(400, f"messages.{index}: text content blocks must contain non-whitespace text")
        if not isinstance(content, str | list):
            raise ApiError(400, f"messages.{index}.content: Input should be a valid string or list")
    return messages


def _thinking_budget(body: dict[str, Any], max_tokens: int) -> int | None:
    """None when the model should not think; otherwise the most thinking tokens it may spend."""
    thinking = body.get("thinking")
    if thinking is None:
        return None
    if not isinstance(thinking, dict):
        raise ApiError(400, "thinking: Input should be an object")
    kind = thinking.get("type")
    if kind == "disabled":
        return None
    if kind == "adaptive":
        return max_tokens
    if kind != "enabled":
        raise ApiError(
            400,
            f"thinking.type: Input tag '{kind}' found using 'type' does not match any of the "
            "expected tags: 'adaptive', 'disabled', 'enabled'",
        )
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < THINKING_MIN_BUDGET:
        raise ApiError(
            400, f"thinking.enabled.budget_tokens: Input should be greater than or equal to {THINKING_MIN_BUDGET}"
        )
    if budget >= max_tokens:
        raise ApiError(400, _BUDGET_MESSAGE)
    return budget


def _stop_at_sequence(tokens: list[str], sequences: Any) -> tuple[list[str], str | None]:
    """Cut the answer where the earliest stop sequence begins, as the API does (the sequence is not sent)."""
    if not sequences:
        return tokens, None
    if not isinstance(sequences, list) or not all(isinstance(s, str) and s for s in sequences):
        raise ApiError(400, "stop_sequences: Input should be a list of non-empty strings")
    text = "".join(tokens)
    hits = [(text.find(s), s) for s in sequences if s in text]
    if not hits:
        return tokens, None
    cut, sequence = min(hits)
    kept: list[str] = []
    position = 0
    for token in tokens:
        if position + len(token) > cut:
            if cut > position:
                kept.append(token[: cut - position])
            break
        kept.append(token)
        position += len(token)
    return kept, sequence


def _forced_stop_reason(opts: dict[str, Any]) -> str | None:
    value = opts.get("stop_reason")
    if value is not None and value not in STOP_REASONS:
        raise ApiError(400, f"simulator.stop_reason must be one of {', '.join(STOP_REASONS)}")
    return value


def _signature(seed: str, thinking: list[str]) -> str:
    """An opaque, deterministic stand-in for the encrypted thinking signature."""
    digest = hashlib.sha256((seed + "".join(thinking)).encode("utf-8")).digest()
    return base64.b64encode(b"\x12\xa4\x01" + digest * 3).decode()


def _content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return count_tokens(content)
    if isinstance(content, list):
        texts = [block.get("text") for block in content if isinstance(block, dict)]
        return sum(count_tokens(t) for t in texts if isinstance(t, str))
    return 0


def _number(opts: dict[str, Any], key: str) -> float | None:
    value = opts.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(400, f"simulator.{key}: must be a number")
    return float(value)


def _float(opts: dict[str, Any], key: str, default: float, minimum: float) -> float:
    value = _number(opts, key)
    return default if value is None else max(minimum, value)


def _int(opts: dict[str, Any], key: str, default: int, minimum: int) -> int:
    value = _number(opts, key)
    return default if value is None else max(minimum, int(value))
