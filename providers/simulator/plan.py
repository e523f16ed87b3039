"""Turns a chat-completions request body into a fully decided simulated response (a Plan).

Everything random is derived from the request itself, so the same body always yields the
same text; only ids and timestamps differ between runs.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from providers.simulator import catalogue
from providers.simulator.catalogue import SimulatedModel
from providers.simulator.text import count_tokens, tokens_for

REASONING_FIELDS = ("reasoning", "reasoning_content")
DEFAULT_STALL_S = 3600.0


class RequestError(Exception):
    """A client error to report as an OpenAI error body."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param


@dataclass(frozen=True)
class Fault:
    """Failure injected through the body's ``simulator.fail`` object."""

    status: int | None = None
    retry_after: float | None = None
    retry_after_ms: int | None = None
    quota: bool = False
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None
    partial: bool = True
    drop: bool = False
    error_after: int | None = None
    stall_after: int | None = None
    stall_s: float = DEFAULT_STALL_S
    times: int | None = None  # fail only the first n requests sharing a fail_key
    echo_key: bool = False  # the error's message quotes the key the request carried, as a careless gateway does


@dataclass(frozen=True)
class Caps:
    """Bounds on what one request may ask for, for a simulator anyone signed in can reach: without them a
    request could ask for millions of tokens (generated at once, stalling the event loop) or hold its
    connection for hours. The test fakes run uncapped."""

    max_tokens: int = 4096  # answer and reasoning, each
    max_wait_s: float = 60.0  # time to first token, and a stall
    max_duration_s: float = 600.0  # the whole answer, at the slowest pace allowed


@dataclass(frozen=True)
class Plan:
    completion_id: str
    created: int
    model: str
    stream: bool
    include_usage: bool
    reasoning_field: str
    reasoning: list[str]
    content: list[str]
    finish_reason: str
    prompt_tokens: int
    ttft_s: float
    interval_s: float  # seconds between tokens; 0 means "as fast as possible"
    fault: Fault | None

    @property
    def tokens(self) -> list[tuple[str, str]]:
        """(delta field, text) for every generated token, reasoning first."""
        return [(self.reasoning_field, t) for t in self.reasoning] + [("content", t) for t in self.content]


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"We could not parse the JSON body of your request. ({exc})") from exc
    if not isinstance(body, dict):
        raise RequestError(400, "The request body must be a JSON object.")
    return body


def resolve_model(body: dict[str, Any]) -> SimulatedModel:
    model_id = body.get("model")
    if not isinstance(model_id, str) or not model_id:
        raise RequestError(400, "you must provide a model parameter", param="model")
    model = catalogue.get(model_id)
    if model is None:
        message = f"The model `{model_id}` does not exist or you do not have access to it."
        raise RequestError(404, message, code="model_not_found")
    return model


def options(body: dict[str, Any]) -> dict[str, Any]:
    value = body.get("simulator") or {}
    if not isinstance(value, dict):
        raise RequestError(400, "'simulator' must be an object.", param="simulator")
    return value


def build_plan(body: dict[str, Any], model: SimulatedModel, fault: Fault | None, caps: Caps | None = None) -> Plan:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "'messages' must be a non-empty array.", param="messages")
    opts = options(body)
    seed = _seed(model.id, messages, body.get("seed"))
    length = _int(opts, "length", model.length, minimum=1)
    reasoning_len = _int(opts, "reasoning_length", length // 2, minimum=0) if model.reasoning else 0
    if caps is not None:
        length, reasoning_len = min(length, caps.max_tokens), min(reasoning_len, caps.max_tokens)
    budget = _max_tokens(body)
    reasoning = tokens_for(seed + "\nreasoning", reasoning_len)
    content = _words(opts["text"]) if "text" in opts else tokens_for(seed, length)
    # Like real APIs, max_tokens caps reasoning and answer together; reasoning comes first.
    kept_reasoning = reasoning[:budget]
    kept_content = content[: max(0, budget - len(kept_reasoning))]
    truncated = len(kept_reasoning) + len(kept_content) < reasoning_len + length
    rate = _float(opts, "tokens_per_s", model.tokens_per_s, minimum=0.0)
    ttft_s = _float(opts, "ttft_ms", model.ttft_ms, minimum=0.0) / 1000.0
    if caps is not None:
        ttft_s = min(ttft_s, caps.max_wait_s)
        if rate > 0:
            rate = max(rate, (reasoning_len + length) / caps.max_duration_s)
    stream_options = body.get("stream_options") or {}
    return Plan(
        completion_id="chatcmpl-sim-" + _short_hash(f"{seed}\n{uuid.uuid4()}"),
        created=int(time.time()),
        model=model.id,
        stream=bool(body.get("stream")),
        include_usage=isinstance(stream_options, dict) and bool(stream_options.get("include_usage")),
        reasoning_field=_reasoning_field(opts),
        reasoning=kept_reasoning,
        content=kept_content,
        finish_reason="length" if truncated else "stop",
        prompt_tokens=sum(_message_tokens(m) for m in messages),
        ttft_s=ttft_s,
        interval_s=1.0 / rate if rate > 0 else 0.0,
        fault=fault,
    )


def parse_fault(spec: Any, caps: Caps | None = None) -> Fault:
    if not isinstance(spec, dict):
        raise RequestError(400, "'simulator.fail' must be an object.", param="simulator.fail")
    headers = spec.get("headers") or {}
    if not isinstance(headers, dict):
        raise RequestError(400, "'simulator.fail.headers' must be an object.", param="simulator")
    status = _opt_int(spec, "status")
    if status is not None and not 400 <= status <= 599:
        raise RequestError(400, "'simulator.fail.status' must be 400-599.", param="simulator")
    return Fault(
        status=status,
        retry_after=_opt_float(spec, "retry_after"),
        retry_after_ms=_opt_int(spec, "retry_after_ms"),
        quota=bool(spec.get("quota")),
        message=spec.get("message") if isinstance(spec.get("message"), str) else None,
        headers={str(k): str(v) for k, v in headers.items()},
        cut_after=_opt_int(spec, "cut_after"),
        partial=bool(spec.get("partial", True)),
        drop=bool(spec.get("drop")),
        error_after=_opt_int(spec, "error_after"),
        stall_after=_opt_int(spec, "stall_after"),
        stall_s=min(_float(spec, "stall_s", DEFAULT_STALL_S, minimum=0.0), caps.max_wait_s if caps else float("inf")),
        times=_opt_int(spec, "times"),
        echo_key=bool(spec.get("echo_key")),
    )


def echo_message(key: str) -> str:
    """An error message that gives away the key it was sent, raw and as the header carried it."""
    return f"Incorrect API key provided: {key}. The request said 'Authorization: Bearer {key}'."


def fault_key(spec: dict[str, Any]) -> str:
    key = spec.get("fail_key")
    return str(key) if key is not None else json.dumps(spec, sort_keys=True)


def _seed(model_id: str, messages: list[Any], seed: Any) -> str:
    text = model_id + "\n" + json.dumps(messages, sort_keys=True, ensure_ascii=False)
    if seed is not None:
        text += f"\nseed={seed}"
    return text


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _message_tokens(message: Any) -> int:
    if not isinstance(message, dict):
        return 0
    content = message.get("content")
    if isinstance(content, str):
        return count_tokens(content)
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return sum(count_tokens(p) for p in parts if isinstance(p, str))
    return 0


def _words(text: Any) -> list[str]:
    """A given answer as tokens: each word with the whitespace before it. A `\\uXXXX` written out in
    it stands for that character, as a model's params live in PostgreSQL's jsonb, which holds no NUL
    and no lone surrogate."""
    if not isinstance(text, str) or not text:
        raise RequestError(400, "'simulator' option 'text' must be a non-empty string.", param="simulator")
    text = _ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text)
    return re.findall(r"\s*\S+|\s+$", text)


_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _max_tokens(body: dict[str, Any]) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise RequestError(400, f"'{key}' must be a positive integer.", param=key)
            return value
    return 1 << 30


def _reasoning_field(opts: dict[str, Any]) -> str:
    value = opts.get("reasoning_field", "reasoning")
    if value not in REASONING_FIELDS:
        raise RequestError(400, f"'reasoning_field' must be one of {REASONING_FIELDS}.")
    return str(value)


def _number(opts: dict[str, Any], key: str) -> float | None:
    value = opts.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(400, f"'simulator' option '{key}' must be a number.", param="simulator")
    return float(value)


def _float(opts: dict[str, Any], key: str, default: float, minimum: float) -> float:
    value = _number(opts, key)
    return default if value is None else max(minimum, value)


def _int(opts: dict[str, Any], key: str, default: int, minimum: int) -> int:
    value = _number(opts, key)
    return default if value is None else max(minimum, int(value))


def _opt_float(opts: dict[str, Any], key: str) -> float | None:
    return _number(opts, key)


def _opt_int(opts: dict[str, Any], key: str) -> int | None:
    value = _number(opts, key)
    return None if value is None else int(value)
