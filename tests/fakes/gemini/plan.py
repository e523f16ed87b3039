"""Turns a ``generateContent`` request body into a fully decided simulated response (a GeminiPlan).

As in the OpenAI simulator, everything random derives from the request itself, so the same body always
yields the same text; only response ids differ between runs. Faults are parsed by the shared
``providers.simulator.plan.parse_fault``; their client errors are re-worded in Google's shape here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from providers.simulator import plan as shared
from providers.simulator.plan import Fault
from providers.simulator.text import count_tokens, tokens_for
from tests.fakes.gemini import catalogue, wire
from tests.fakes.gemini.catalogue import GeminiModel

# Top-level request fields the real API knows, in both the JSON (camel) and proto (snake) spellings.
_KNOWN_FIELDS = {
    "contents",
    "systemInstruction",
    "system_instruction",
    "generationConfig",
    "generation_config",
    "safetySettings",
    "safety_settings",
    "tools",
    "toolConfig",
    "tool_config",
    "cachedContent",
    "cached_content",
    "simulator",  # ours, like the OpenAI simulator's extra_body field
}
_ROLES = ("user", "model")
THINKING_LEVELS = ("MINIMAL", "LOW", "MEDIUM", "HIGH")


class GoogleError(Exception):
    """A client error to report in Google's ``{"error": {code, message, status}}`` shape."""

    def __init__(self, code: int, body: dict[str, Any]) -> None:
        super().__init__(body["error"]["message"])
        self.code = code
        self.body = body

    @classmethod
    def invalid(cls, message: str) -> GoogleError:
        return cls(400, wire.error_body(400, message, "INVALID_ARGUMENT"))


@dataclass(frozen=True)
class GeminiPlan:
    model: GeminiModel
    response_id: str
    stream: bool
    thoughts: list[str]  # generated (and billed) whether or not they are returned
    include_thoughts: bool
    content: list[str]
    finish_reason: str
    block_reason: str | None
    prompt_tokens: int
    cached_tokens: int
    chunk_tokens: int
    ttft_s: float
    interval_s: float  # seconds between tokens; 0 means "as fast as possible"
    fault: Fault | None
    finish_without_reason: bool
    thought_signature: str | None

    @property
    def total_tokens(self) -> int:
        return len(self.thoughts) + len(self.content)


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise GoogleError.invalid(f"Invalid JSON payload received. {exc}") from exc
    if not isinstance(body, dict):
        raise GoogleError.invalid("Invalid JSON payload received. Expected an object.")
    for name in body:
        if name not in _KNOWN_FIELDS:
            raise GoogleError(400, wire.bad_field_body(name))
    return body


def resolve_model(name: str, version: str, method: str) -> GeminiModel:
    model = catalogue.get(name)
    if model is None:
        message = (
            f"models/{name} is not found for API version {version}, or is not supported for {method}. "
            "Call ListModels to see the list of available models and their supported methods."
        )
        raise GoogleError(404, wire.error_body(404, message, "NOT_FOUND"))
    return model


def options(body: dict[str, Any]) -> dict[str, Any]:
    value = body.get("simulator") or {}
    if not isinstance(value, dict):
        raise GoogleError.invalid("'simulator' must be an object.")
    return value


def parse_fault(spec: Any) -> Fault:
    try:
        return shared.parse_fault(spec)
    except shared.RequestError as exc:
        raise GoogleError.invalid(exc.message) from exc


def build_plan(body: dict[str, Any], model: GeminiModel, stream: bool, fault: Fault | None) -> GeminiPlan:
    contents = _contents(body)
    system = _field(body, "systemInstruction")
    config = _field(body, "generationConfig") or {}
    if not isinstance(config, dict):
        raise GoogleError.invalid("Invalid value at 'generation_config'.")
    opts = options(body)
    prompt_tokens = _text_tokens(system) + sum(_text_tokens(c) for c in contents)
    limit = _int(opts, "input_token_limit", model.input_token_limit, minimum=1)
    if prompt_tokens > limit:
        raise GoogleError.invalid(
            f"The input token count ({prompt_tokens}) exceeds the maximum number of tokens allowed ({limit})."
        )
    seed = "\n".join((model.id, _dumps(contents), _dumps(system), str(config.get("seed"))))
    thinks, include_thoughts, thought_cap = _thinking(config, model)
    thoughts_len = _int(opts, "reasoning_length", model.thoughts_length, minimum=0) if thinks else 0
    thoughts_len = min(thoughts_len, thought_cap)
    length = _int(opts, "length", model.length, minimum=1)
    budget = _max_output_tokens(config)
    # As on Gemini 2.5+, thinking counts against maxOutputTokens; the answer gets what is left.
    thoughts = tokens_for(seed + "\nthoughts", thoughts_len)[:budget]
    content = tokens_for(seed, length)[: max(0, budget - len(thoughts))]
    truncated = len(thoughts) + len(content) < thoughts_len + length
    block_reason = _opt_str(opts, "block_reason")
    rate = _float(opts, "tokens_per_s", model.tokens_per_s, minimum=0.0)
    spec = opts.get("fail") if isinstance(opts.get("fail"), dict) else {}
    return GeminiPlan(
        model=model,
        response_id=_response_id(seed),
        stream=stream,
        thoughts=[] if block_reason else thoughts,
        include_thoughts=include_thoughts,
        content=[] if block_reason else content,
        finish_reason=_opt_str(opts, "finish_reason") or ("MAX_TOKENS" if truncated else "STOP"),
        block_reason=block_reason,
        prompt_tokens=prompt_tokens,
        cached_tokens=min(prompt_tokens, _int(opts, "cached_tokens", 0, minimum=0)),
        chunk_tokens=_int(opts, "chunk_tokens", 1, minimum=1),
        ttft_s=_float(opts, "ttft_ms", model.ttft_ms, minimum=0.0) / 1000.0,
        interval_s=1.0 / rate if rate > 0 else 0.0,
        fault=fault,
        finish_without_reason=fault is not None and bool(spec.get("finish_without_reason")),
        thought_signature=_signature(seed) if thoughts else None,
    )


def _contents(body: dict[str, Any]) -> list[dict[str, Any]]:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise GoogleError.invalid("* GenerateContentRequest.contents: contents is not specified\n")
    for content in contents:
        if not isinstance(content, dict):
            raise GoogleError.invalid("Invalid value at 'contents': expected an object.")
        if content.get("role", "user") not in _ROLES:
            raise GoogleError.invalid("Please use a valid role: user, model.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise GoogleError.invalid("* GenerateContentRequest.contents.parts: contents.parts must not be empty.\n")
    return contents


def _thinking(config: dict[str, Any], model: GeminiModel) -> tuple[bool, bool, int]:
    """(thinks, returns thought summaries, cap on thought tokens) from ``thinkingConfig``."""
    thinking = config.get("thinkingConfig") or config.get("thinking_config") or {}
    if not isinstance(thinking, dict):
        raise GoogleError.invalid("Invalid value at 'generation_config.thinking_config'.")
    budget = thinking.get("thinkingBudget", thinking.get("thinking_budget"))
    level = thinking.get("thinkingLevel", thinking.get("thinking_level"))
    include = bool(thinking.get("includeThoughts", thinking.get("include_thoughts")))
    if budget is not None and level is not None:
        raise GoogleError.invalid("You can only set one of thinking budget and thinking level.")
    if level is not None and level not in THINKING_LEVELS:
        raise GoogleError.invalid(f"Invalid value at 'generation_config.thinking_config.thinking_level' ({level}).")
    if budget is None:
        return model.thinking, include, 1 << 30
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < -1:
        raise GoogleError.invalid("Invalid value at 'generation_config.thinking_config.thinking_budget'.")
    if budget == 0 and model.thinking_required:
        raise GoogleError.invalid("Budget 0 is invalid. This model only works in thinking mode.")
    return budget != 0, include, budget if budget > 0 else 1 << 30


def _max_output_tokens(config: dict[str, Any]) -> int:
    value = config.get("maxOutputTokens", config.get("max_output_tokens"))
    if value is None:
        return 1 << 30
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise GoogleError.invalid("Invalid value at 'generation_config.max_output_tokens'.")
    return value


def _field(body: dict[str, Any], camel: str) -> Any:
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return body.get(camel, body.get(snake))


def _text_tokens(content: Any) -> int:
    if not isinstance(content, dict):
        return 0
    parts = content.get("parts")
    if not isinstance(parts, list):
        return 0
    return sum(count_tokens(p["text"]) for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _response_id(seed: str) -> str:
    digest = hashlib.sha256(f"{seed}\n{uuid.uuid4()}".encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def _signature(seed: str) -> str:
    return base64.b64encode(hashlib.sha256(("signature\n" + seed).encode()).digest()).decode()


def _number(opts: dict[str, Any], key: str) -> float | None:
    value = opts.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GoogleError.invalid(f"'simulator' option '{key}' must be a number.")
    return float(value)


def _float(opts: dict[str, Any], key: str, default: float, minimum: float) -> float:
    value = _number(opts, key)
    return default if value is None else max(minimum, value)


def _int(opts: dict[str, Any], key: str, default: int, minimum: int) -> int:
    value = _number(opts, key)
    return default if value is None else max(minimum, int(value))


def _opt_str(opts: dict[str, Any], key: str) -> str | None:
    value = opts.get(key)
    if value is not None and not isinstance(value, str):
        raise GoogleError.invalid(f"'simulator' option '{key}' must be a string.")
    return value or None
