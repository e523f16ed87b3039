"""Google Gemini, native API (``generateContent``), through the official ``google-genai`` SDK.

Wire facts this relies on (WIRE-FORMATS.md §5): roles are ``user`` and ``model`` and the system prompt
travels apart as ``systemInstruction``; thought summaries are parts with ``thought: true``; every chunk
carries cumulative ``usageMetadata`` (keep the last); ``promptTokenCount`` includes cached tokens and
``candidatesTokenCount`` excludes thoughts; the stream ends at EOF, so a missing ``finishReason`` is the
only sign of a cut.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pydantic
from google import genai
from google.genai import errors, types

from providers.base import AccountConfig, Adapter, ChatRequest, Message, ProviderError, StreamEvent, Usage
from providers.errors import retry_after, status_error, transport_error, unexpected
from providers.http import make_client, tls_context

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/"
API_VERSION = "v1beta"  # thinking config and thought parts are v1beta features

_FILTER_MARKERS = ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED", "SPII", "LANGUAGE")
_AUTH_REASONS = {"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_CONTEXT_LENGTH = re.compile(r"input token count.*exceeds", re.IGNORECASE | re.DOTALL)
_BILLING_MARKERS = ("credits are depleted", "prepayment", "billing", "exceeded your current quota")
# Request params with a GenerateContentConfig field of their own; anything else goes into the body as is.
_CONFIG_PARAMS = {
    "max_tokens": "max_output_tokens",
    "max_output_tokens": "max_output_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "seed": "seed",
    "stop": "stop_sequences",
    "stop_sequences": "stop_sequences",
}
_THINKING_PARAMS = ("thinking", "include_thoughts", "thinking_budget", "thinking_level")


class GeminiAdapter(Adapter):
    def __init__(self, account: AccountConfig):
        super().__init__(account)
        self._http = make_client(read_timeout_s=account.idle_timeout_s)
        _keep_client_timeouts(self._http)
        self._client = genai.Client(
            vertexai=False,  # never let GOOGLE_GENAI_USE_VERTEXAI in the environment reroute a call
            api_key=account.api_key or "unused",  # the SDK insists on one; the server answers for a bad one
            http_options=types.HttpOptions(
                # Explicit, so the SDK's own GOOGLE_GEMINI_BASE_URL / GOOGLE_GENAI_API_VERSION never apply.
                base_url=account.base_url or DEFAULT_BASE_URL,
                api_version=API_VERSION,
                httpx_async_client=self._http,
                # Only the SDK's idle sync and websocket clients use these: sharing one context spares
                # two certificate-store loads (~70 ms of blocked event loop) per adapter.
                async_client_args={"verify": tls_context(), "ssl": tls_context()},
                retry_options=None,  # None means one attempt: the engine owns retries
            ),
        )

    async def aclose(self) -> None:
        await self._client.aio.aclose()
        self._client.close()  # the SDK's own sync client, unused but open
        await self._http.aclose()  # ours: the SDK never closes a client it was given

    async def _list_models(self) -> list[str]:
        try:
            pager = await self._client.aio.models.list()
            models = [model async for model in pager]
        except Exception as exc:  # every failure becomes a typed ProviderError
            raise provider_error(exc) from exc
        # The list also holds embedding, image and video models; keep those that can chat.
        return [
            (model.name or "").removeprefix("models/")
            for model in models
            if model.name and (model.supported_actions is None or "generateContent" in model.supported_actions)
        ]

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        usage: Usage | None = None
        finish: str | None = None
        chunks = None
        try:
            system, contents = to_contents(request.messages)
            config = generation_config(request.params, system)
            chunks = await self._client.aio.models.generate_content_stream(
                model=request.model, contents=contents, config=config
            )
            async for chunk in chunks:
                if chunk.usage_metadata is not None:
                    usage = usage_from(chunk.usage_metadata)
                feedback = chunk.prompt_feedback
                if feedback is not None and feedback.block_reason:
                    finish = "content_filter"  # the prompt itself was blocked: no candidates follow
                for candidate in (chunk.candidates or [])[:1]:
                    for event in events_from(candidate):
                        yield event
                    if candidate.finish_reason:
                        finish = finish_reason(candidate.finish_reason)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a typed ProviderError
            yield StreamEvent("error", error=provider_error(exc))
            return
        finally:
            if chunks is not None:
                await chunks.aclose()  # release the connection now, not whenever the GC gets to it
        if finish is None:
            yield StreamEvent("error", error=ProviderError("stream_cut", "The stream ended before the model finished."))
            return
        if usage is not None:
            yield StreamEvent("usage", usage=usage)
        yield StreamEvent("finish", finish_reason=finish)


# Thinking budgets for a reasoning effort: Google's own for low, medium and high on Gemini 2.5.
THINKING_BUDGETS = {"low": 1024, "medium": 8192, "high": 24576}


def request_params(defaults: dict[str, Any], settings: dict[str, Any], kind: str) -> dict[str, Any]:
    """A model's params with a person's settings over them, in the names generation_config reads."""
    params = dict(defaults)
    if "max_tokens" in settings:
        params.pop("max_output_tokens", None)
        params["max_tokens"] = settings["max_tokens"]
    if "temperature" in settings:
        params["temperature"] = settings["temperature"]
    if "reasoning_effort" in settings:
        params["thinking_budget"] = THINKING_BUDGETS[settings["reasoning_effort"]]
    return params


def sent_params(params: dict[str, Any]) -> dict[str, Any]:
    """The generation settings as the request body's ``generationConfig`` carries them."""
    config = generation_config(params, None).model_dump(exclude_none=True)
    names = {"temperature": "temperature", "max_output_tokens": "maxOutputTokens"}
    sent = {names[k]: v for k, v in config.items() if k in names}
    thinking = config.get("thinking_config")
    if thinking:
        sent["thinkingConfig"] = thinking  # the SDK sends its fields in snake_case, which the API takes too
    return {"generationConfig": sent} if sent else {}


def wire_messages(messages: tuple[Message, ...]) -> dict[str, Any]:
    """``system_instruction`` and ``contents`` as the REST API takes them (also the context preview's).

    System messages become the system instruction; turns alternate, consecutive same-role ones joined.
    Empty messages are dropped (the API rejects empty text parts). The output is the same for the same
    messages every time, so the provider's implicit prefix cache can hit.
    """
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    turns: list[tuple[str, list[str]]] = []
    for message in messages:
        if message.role == "system" or not message.content:
            continue
        role = "model" if message.role == "assistant" else "user"
        if turns and turns[-1][0] == role:
            turns[-1][1].append(message.content)
        else:
            turns.append((role, [message.content]))
    body: dict[str, Any] = {}
    if system:
        # The SDK sends a plain-string system instruction as a user-role content; say so outright.
        body["system_instruction"] = {"role": "user", "parts": [{"text": system}]}
    body["contents"] = [{"role": role, "parts": [{"text": "\n\n".join(texts)}]} for role, texts in turns]
    return body


def to_contents(messages: tuple[Message, ...]) -> tuple[types.Content | None, list[types.Content]]:
    """The SDK's objects for `wire_messages`, so what is previewed is what is sent."""
    wire = wire_messages(messages)
    system = wire.get("system_instruction")
    contents = [types.Content.model_validate(content) for content in wire["contents"]]
    return (types.Content.model_validate(system) if system else None), contents


def generation_config(params: dict[str, Any], system: types.Content | str | None) -> types.GenerateContentConfig:
    params = dict(params)
    fields: dict[str, Any] = {}
    for param, field in _CONFIG_PARAMS.items():
        if param in params:
            value = params.pop(param)
            fields[field] = [value] if field == "stop_sequences" and isinstance(value, str) else value
    thinking = thinking_config({k: params.pop(k) for k in _THINKING_PARAMS if k in params})
    return types.GenerateContentConfig(
        system_instruction=system,
        thinking_config=thinking,
        # One request per call: no continuation hops or function-calling rounds the engine cannot see.
        automatic_continuation=False,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        # Unknown params (the simulator's options among them) go into the body as given.
        http_options=types.HttpOptions(extra_body=params) if params else None,
        **fields,
    )


def thinking_config(params: dict[str, Any]) -> types.ThinkingConfig | None:
    """``thinking`` (true, or a dict of the keys below), ``include_thoughts``, ``thinking_budget``,
    ``thinking_level``; asking for thinking in any of these ways returns thought summaries."""
    if not params:
        return None
    spec = params.pop("thinking", None)
    if spec is False:
        return types.ThinkingConfig(thinking_budget=0)
    if isinstance(spec, dict):
        params = {**{f"thinking_{k}" if k in ("budget", "level") else k: v for k, v in spec.items()}, **params}
    return types.ThinkingConfig(
        include_thoughts=params.get("include_thoughts", True),
        thinking_budget=params.get("thinking_budget"),
        thinking_level=params.get("thinking_level"),
    )


def events_from(candidate: types.Candidate) -> list[StreamEvent]:
    parts = candidate.content.parts if candidate.content is not None else None
    events = []
    for part in parts or []:
        if part.text:
            events.append(StreamEvent("reasoning" if part.thought else "text", text=part.text))
    return events


def finish_reason(reason: Any) -> str:
    name = str(getattr(reason, "value", reason)).upper()
    if name == "MAX_TOKENS":
        return "length"
    if any(marker in name for marker in _FILTER_MARKERS):
        return "content_filter"
    return "stop"


def usage_from(usage: types.GenerateContentResponseUsageMetadata) -> Usage:
    thoughts = usage.thoughts_token_count or 0
    return Usage(
        input_tokens=usage.prompt_token_count or 0,  # cached tokens included already
        cached_input_tokens=usage.cached_content_token_count or 0,
        output_tokens=(usage.candidates_token_count or 0) + thoughts,  # candidates exclude thoughts
        reasoning_tokens=thoughts,
    )


def provider_error(exc: Exception) -> ProviderError:
    if isinstance(exc, errors.APIError):
        return _api_error(exc)
    if isinstance(exc, errors.UnknownApiResponseError):
        # The SDK parses whatever is left at EOF; half an event means the stream was cut.
        return ProviderError("stream_cut", "The provider's stream ended in the middle of an event.")
    if isinstance(exc, pydantic.ValidationError):
        fields = ", ".join(sorted({".".join(map(str, e["loc"])) for e in exc.errors()}))
        return ProviderError("bad_request", f"The model's parameters are not valid for Gemini ({fields}).")
    transport = transport_error(exc)
    return transport if transport is not None else unexpected(exc)


def _api_error(exc: errors.APIError) -> ProviderError:
    code, status = exc.code or 0, (exc.status or "").upper()
    message = str(exc.message or f"HTTP {code} {status}".strip())
    details = _details(exc)
    reasons = {str(d.get("reason")) for d in details if d.get("reason")}
    wait = _retry_after(exc, details)
    named = None
    if code in (401, 403) or status in ("UNAUTHENTICATED", "PERMISSION_DENIED") or reasons & _AUTH_REASONS:
        named = "auth"  # a wrong key is a 400 with reason API_KEY_INVALID
    elif code == 429 or status == "RESOURCE_EXHAUSTED":
        named = "quota" if _is_quota(message, details, wait) else "rate_limited"
    elif status == "UNAVAILABLE":
        named = "overloaded"
    elif status == "DEADLINE_EXCEEDED":
        named = "timeout"
    too_long = code == 400 and bool(_CONTEXT_LENGTH.search(message))
    return status_error(code, message, named=named, too_long=too_long, retry_after=wait)


def _is_quota(message: str, details: list[dict[str, Any]], delay: float | None) -> bool:
    """Billing or a daily cap (not worth retrying) rather than a per-minute limit.

    Google words per-minute and per-day 429s alike ("You exceeded your current quota, please check your
    plan and billing details"), so the text decides only when nothing finer is there: a violated
    per-minute quota or a RetryInfo means waiting helps; only per-day violations mean it will not.
    """
    if "credits are depleted" in message.lower():
        return True
    quota_ids = [
        str(v.get("quotaId", ""))
        for d in details
        if str(d.get("@type", "")).endswith("QuotaFailure")
        for v in d.get("violations") or []
        if isinstance(v, dict)
    ]
    if any("PerMinute" in q for q in quota_ids):
        return False
    if quota_ids and all("PerDay" in q for q in quota_ids):
        return True
    return delay is None and any(marker in message.lower() for marker in _BILLING_MARKERS)


def _details(exc: errors.APIError) -> list[dict[str, Any]]:
    body = exc.details if isinstance(exc.details, dict) else {}
    error = body.get("error", body)
    details = error.get("details") if isinstance(error, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _retry_after(exc: errors.APIError, details: list[dict[str, Any]]) -> float | None:
    """Seconds to wait: the ``retry-after`` header if any, else RetryInfo's ``retryDelay`` ("1.5s")."""
    wait = retry_after(getattr(exc.response, "headers", None))
    if wait is not None:
        return wait
    for detail in details:
        if str(detail.get("@type", "")).endswith("RetryInfo"):
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _keep_client_timeouts(client: httpx2.AsyncClient) -> None:
    """Make the SDK's per-request ``timeout=None`` mean "the client's timeouts", not "no timeouts".

    google-genai passes ``HttpOptions.timeout`` (or None) on every request, which overrides the client's
    own. Setting ``HttpOptions.timeout`` instead is no fix: it is one number for connect and read alike,
    and it is also sent as ``X-Server-Timeout``, a server-side deadline that would end long answers.
    """
    defaults = client.timeout.as_dict()

    async def restore(request: httpx2.Request) -> None:
        if not any(request.extensions.get("timeout", {}).values()):
            request.extensions["timeout"] = defaults

    client.event_hooks["request"].append(restore)
