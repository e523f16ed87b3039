"""JSON shapes of the Anthropic Messages wire format, as the simulator emits them (WIRE-FORMATS.md §4).

Kept apart from the ASGI plumbing so the exact field set and event order are easy to audit.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from providers.simulator.wire import dumps
from tests.fakes.anthropic.catalogue import SimulatedClaude

JSON = dict[str, Any]

_ID_ALPHABET = string.ascii_letters + string.digits

# HTTP status → (error type, default message), as api.anthropic.com words them.
STATUS_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "This request would exceed the rate limit for your organization."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}


def new_id(prefix: str) -> str:
    """Ids shaped like Anthropic's (``msg_01…``, ``req_01…``): a prefix and 24 base62 characters."""
    return prefix + "01" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))


def error_type_for(status: int) -> str:
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status][0]
    return "api_error" if status >= 500 else "invalid_request_error"


def status_for_type(type_: str) -> int:
    return next((status for status, (known, _) in STATUS_ERRORS.items() if known == type_), 500)


def message_for(status: int) -> str:
    return STATUS_ERRORS.get(status, ("", f"Simulated error {status}."))[1]


def error_body(type_: str, message: str, request_id: str | None = None) -> JSON:
    body: JSON = {"type": "error", "error": {"type": type_, "message": message}}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def status_error_body(status: int, request_id: str, type_: str | None = None, message: str | None = None) -> JSON:
    """The body of a simulated HTTP failure; ``type_`` and ``message`` override the status defaults."""
    default_type, default_message = STATUS_ERRORS.get(status, (error_type_for(status), f"Simulated error {status}."))
    return error_body(type_ or default_type, message or default_message, request_id)


def start_usage(input_tokens: int, cache_read: int, cache_write: int) -> JSON:
    """``message_start`` usage: input excludes cache reads and writes; output is a placeholder."""
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "cache_creation": {"ephemeral_5m_input_tokens": cache_write, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 1,
        "service_tier": "standard",
    }


def delta_usage(
    input_tokens: int, cache_read: int, cache_write: int, output_tokens: int, thinking_tokens: int, legacy: bool
) -> JSON:
    """``message_delta`` usage: cumulative output, and since 2025 the cumulative input/cache fields too."""
    if legacy:
        return {"output_tokens": output_tokens}
    usage: JSON = {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "output_tokens": output_tokens,
    }
    if thinking_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": thinking_tokens}
    return usage


def message(
    message_id: str, model: str, content: list[JSON], stop_reason: str | None, stop_sequence: str | None, usage: JSON
) -> JSON:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage,
    }


def message_start(body: JSON) -> JSON:
    return {"type": "message_start", "message": body}


def block_start(index: int, block: JSON) -> JSON:
    return {"type": "content_block_start", "index": index, "content_block": block}


def block_delta(index: int, delta: JSON) -> JSON:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def block_stop(index: int) -> JSON:
    return {"type": "content_block_stop", "index": index}


def message_delta(stop_reason: str, stop_sequence: str | None, usage: JSON) -> JSON:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
        "usage": usage,
    }


PING: JSON = {"type": "ping"}
MESSAGE_STOP: JSON = {"type": "message_stop"}


def thinking_block(thinking: str = "", signature: str = "") -> JSON:
    return {"type": "thinking", "thinking": thinking, "signature": signature}


def text_block(text: str = "") -> JSON:
    return {"type": "text", "text": text}


def model_info(model: SimulatedClaude) -> JSON:
    return {
        "type": "model",
        "id": model.id,
        "display_name": model.display_name,
        "created_at": model.created_at,
        "lifecycle": "active",
        "max_input_tokens": model.context_window,
        "max_tokens": model.max_output_tokens,
    }


def models_body(models: tuple[SimulatedClaude, ...]) -> JSON:
    data = [model_info(m) for m in models]
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def sse(data: JSON) -> bytes:
    """One event as Anthropic frames it: the ``event:`` name repeats the data's ``type``."""
    return f"event: {data['type']}\ndata: {dumps(data)}\n\n".encode()
