"""JSON shapes of the Gemini API (``generativelanguage``, v1beta), as the simulator emits them.

Kept apart from the ASGI plumbing so the exact field set (WIRE-FORMATS.md §5) is easy to audit. Google's
JSON has a style of its own: SSE lines are compact with ``": "`` after keys, plain JSON bodies are indented
by two spaces, and events end in CRLF.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.gemini.catalogue import GeminiModel

JSON = dict[str, Any]

RATE_LIMIT_DOCS = "https://ai.google.dev/gemini-api/docs/rate-limits"
GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_DEFAULT_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "You exceeded your current quota, please check your plan and billing details. For more information on "
    f"this error, head to: {RATE_LIMIT_DOCS}.",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}
API_KEY_INVALID_MESSAGE = "API key not valid. Please pass a valid API key."
UNREGISTERED_CALLER_MESSAGE = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
CREDITS_DEPLETED_MESSAGE = (
    "Your prepayment credits are depleted. Please go to AI Studio at https://ai.studio/projects "
    "to manage your project and billing."
)
_TYPE = "type.googleapis.com/google.rpc."
_GENERATION_METHODS = ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]


def error_body(
    code: int, message: str | None = None, status: str | None = None, details: list[JSON] | None = None
) -> JSON:
    default = "Simulated server error." if code >= 500 else "Simulated client error."
    error: JSON = {
        "code": code,
        "message": message or _DEFAULT_MESSAGES.get(code, default),
        "status": status or GOOGLE_STATUS.get(code, "INTERNAL" if code >= 500 else "FAILED_PRECONDITION"),
    }
    if details:
        error["details"] = details
    return {"error": error}


def api_key_invalid_body() -> JSON:
    """What the real API answers for a wrong key: 400, not 401 (the reason says what happened)."""
    details = [
        {
            "@type": _TYPE + "ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        },
        {"@type": _TYPE + "LocalizedMessage", "locale": "en-US", "message": API_KEY_INVALID_MESSAGE},
    ]
    return error_body(400, API_KEY_INVALID_MESSAGE, "INVALID_ARGUMENT", details)


def unregistered_caller_body() -> JSON:
    return error_body(403, UNREGISTERED_CALLER_MESSAGE, "PERMISSION_DENIED")


def rate_limited_body(model: str, retry_delay_s: float | None, message: str | None = None) -> JSON:
    """A per-minute limit: QuotaFailure + Help, and RetryInfo when a delay is known."""
    text = message or (
        _DEFAULT_MESSAGES[429] + "\n* Quota exceeded for metric: generativelanguage.googleapis.com/"
        f"generate_content_paid_tier_requests, limit: 60, model: {model}"
        + (f"\nPlease retry in {retry_delay_s}s." if retry_delay_s is not None else "")
    )
    details: list[JSON] = [
        {
            "@type": _TYPE + "QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_paid_tier_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": "60",
                }
            ],
        },
        {
            "@type": _TYPE + "Help",
            "links": [{"description": "Learn more about Gemini API quotas", "url": RATE_LIMIT_DOCS}],
        },
    ]
    if retry_delay_s is not None:
        details.append({"@type": _TYPE + "RetryInfo", "retryDelay": duration(retry_delay_s)})
    return error_body(429, text, "RESOURCE_EXHAUSTED", details)


def credits_depleted_body(message: str | None = None) -> JSON:
    return error_body(429, message or CREDITS_DEPLETED_MESSAGE, "RESOURCE_EXHAUSTED")


def bad_field_body(name: str) -> JSON:
    text = f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
    details = [{"@type": _TYPE + "BadRequest", "fieldViolations": [{"description": text}]}]
    return error_body(400, text, "INVALID_ARGUMENT", details)


def duration(seconds: float) -> str:
    """A protobuf Duration in JSON: "7s", or 3/6/9 fractional digits ("1.500s")."""
    whole, nanos = divmod(round(seconds * 1e9), 1_000_000_000)
    if nanos == 0:
        return f"{whole}s"
    for digits, scale in ((3, 1_000_000), (6, 1_000)):
        if nanos % scale == 0:
            return f"{whole}.{nanos // scale:0{digits}d}s"
    return f"{whole}.{nanos:09d}s"


def usage_metadata(prompt: int, cached: int, candidates: int, thoughts: int) -> JSON:
    """``usageMetadata``: prompt includes cached, candidates excludes thoughts; zero counts are left out."""
    usage: JSON = {"promptTokenCount": prompt}
    if candidates:
        usage["candidatesTokenCount"] = candidates
    usage["totalTokenCount"] = prompt + candidates + thoughts
    if cached:
        usage["cachedContentTokenCount"] = cached
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    if cached:
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def candidate(parts: list[JSON], finish_reason: str | None = None) -> JSON:
    # A candidate that produced nothing (thinking used the whole budget) has a role but no parts.
    content: JSON = {"parts": parts, "role": "model"} if parts else {"role": "model"}
    body: JSON = {"content": content}
    if finish_reason:
        body["finishReason"] = finish_reason
    body["index"] = 0
    return body


def response(
    candidates: list[JSON] | None,
    usage: JSON,
    model_version: str,
    response_id: str,
    block_reason: str | None = None,
) -> JSON:
    """A ``GenerateContentResponse`` (one streamed chunk, or the whole non-streamed answer)."""
    body: JSON = {}
    if candidates is not None:
        body["candidates"] = candidates
    if block_reason:
        body["promptFeedback"] = {"blockReason": block_reason}
    body["usageMetadata"] = usage
    body["modelVersion"] = model_version
    body["responseId"] = response_id
    return body


def model_resource(model: GeminiModel) -> JSON:
    return {
        "name": f"models/{model.id}",
        "version": model.version,
        "displayName": model.display_name,
        "description": model.description,
        "inputTokenLimit": model.input_token_limit,
        "outputTokenLimit": model.output_token_limit,
        "supportedGenerationMethods": list(_GENERATION_METHODS),
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxTemperature": 2,
        "thinking": model.thinking or model.thinking_required,
    }


def models_page(models: list[GeminiModel], next_page_token: str | None) -> JSON:
    body: JSON = {"models": [model_resource(m) for m in models]}
    if next_page_token:
        body["nextPageToken"] = next_page_token
    return body


def sse(data: JSON) -> bytes:
    return b"data: " + compact(data).encode() + b"\r\n\r\n"


def compact(data: JSON) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ": "))


def pretty(data: JSON) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode()
