"""JSON shapes of the OpenAI Chat Completions wire format, as the simulator emits them.

Kept apart from the ASGI plumbing so the exact field set (WIRE-FORMATS.md §1-3) is easy to audit.
"""

from __future__ import annotations

import json
from typing import Any

from providers.simulator.catalogue import SimulatedModel

SYSTEM_FINGERPRINT = "fp_prism_sim"
MODELS_CREATED = 1735689600  # fixed so /v1/models is byte-for-byte stable

JSON = dict[str, Any]

_STATUS_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to access this resource.", "invalid_request_error", None),
    404: ("The requested resource does not exist.", "invalid_request_error", None),
    408: ("Request timed out.", "timeout", None),
    409: ("Conflict.", "invalid_request_error", None),
    413: ("Request entity too large.", "invalid_request_error", None),
    422: ("Unprocessable request.", "invalid_request_error", None),
    429: ("Rate limit reached for requests. Please try again later.", "requests", None),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
    504: ("Gateway timeout.", "server_error", None),
}

STREAM_ERROR_MESSAGE = "The server had an error while processing your request."


def error_body(
    message: str,
    type_: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
) -> JSON:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def status_error_body(status: int, message: str | None = None, quota: bool = False) -> JSON:
    """OpenAI-shaped error body for a simulated HTTP failure."""
    if status == 429 and quota:
        text = "You exceeded your current quota, please check your plan and billing details."
        return error_body(message or text, "insufficient_quota", "insufficient_quota")
    if status == 429:
        text, type_, _ = _STATUS_ERRORS[429]
        return error_body(message or text, type_, "rate_limit_exceeded")
    default_type = "server_error" if status >= 500 else "invalid_request_error"
    text, type_, code = _STATUS_ERRORS.get(status, (f"Simulated error {status}.", default_type, None))
    return error_body(message or text, type_, code)


def stream_error_body(message: str | None = None) -> JSON:
    return {"error": {"message": message or STREAM_ERROR_MESSAGE, "type": "server_error", "code": None}}


def models_body(models: tuple[SimulatedModel, ...]) -> JSON:
    data = [{"id": m.id, "object": "model", "created": MODELS_CREATED, "owned_by": "prism-simulator"} for m in models]
    return {"object": "list", "data": data}


def usage(prompt_tokens: int, completion_tokens: int, reasoning_tokens: int) -> JSON:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
    }


def chunk(
    header: JSON,
    delta: JSON | None,
    finish_reason: str | None = None,
    include_usage: bool = False,
) -> JSON:
    """A ``chat.completion.chunk``; ``delta=None`` gives the usage-only chunk's empty choices."""
    body: JSON = {**header, "object": "chat.completion.chunk"}
    if delta is None:
        body["choices"] = []
    else:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        body["choices"] = [choice]
    if include_usage:
        body["usage"] = None
    return body


def completion(
    header: JSON,
    content: str,
    reasoning: tuple[str, str] | None,
    finish_reason: str,
    usage_body: JSON,
) -> JSON:
    """A non-streaming ``chat.completion``; ``reasoning`` is (field name, text) when present."""
    message: JSON = {"role": "assistant", "content": content, "refusal": None}
    if reasoning is not None:
        message[reasoning[0]] = reasoning[1]
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
    return {**header, "object": "chat.completion", "choices": [choice], "usage": usage_body}


def header(completion_id: str, created: int, model: str) -> JSON:
    """Fields repeated on every chunk, in OpenAI's key order."""
    return {
        "id": completion_id,
        "object": "",
        "created": created,
        "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


def sse(data: JSON | str) -> bytes:
    payload = data if isinstance(data, str) else dumps(data)
    # A lone surrogate (only in a `text` a test asked for) has no UTF-8 form; inside a JSON string its
    # backslash escape is JSON's own \udXXX, as a provider that escapes its output sends it.
    return f"data: {payload}\n\n".encode("utf-8", "backslashreplace")


def dumps(data: JSON) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
