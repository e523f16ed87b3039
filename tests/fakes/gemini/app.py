"""Raw ASGI app serving the Gemini API (native ``generateContent``) from the simulated catalogue.

Routes (under ``prefix``; ``v1beta`` and ``v1`` alike): ``GET /v1beta/models`` (paged by ``pageSize`` /
``pageToken``), ``GET /v1beta/models/{model}``, ``POST /v1beta/models/{model}:streamGenerateContent``
(``?alt=sse`` for SSE, else a streamed JSON array), ``POST /v1beta/models/{model}:generateContent`` and
``GET /health``. The key is read from ``x-goog-api-key`` (or, as Google also allows, a ``key`` query
parameter, which is accepted and recorded so tests can prove nobody sends it): a wrong key gets the real
API's 400 ``API_KEY_INVALID``, a missing one 403 ``PERMISSION_DENIED``.

Per-request behaviour comes from the body's ``simulator`` object (the SDK's ``HttpOptions.extra_body``):
``ttft_ms``, ``tokens_per_s`` (0 = unpaced), ``length``, ``reasoning_length`` (thought tokens),
``cached_tokens`` (reported as ``cachedContentTokenCount``), ``chunk_tokens`` (tokens per event, default
1), ``input_token_limit`` (lower it to provoke the context-length 400), ``finish_reason`` (e.g. ``SAFETY``),
``block_reason`` (a blocked prompt: ``promptFeedback`` and no candidates) and ``fail``, parsed as in the
OpenAI simulator:

- ``status``: answer with that HTTP status in Google's error shape. 429 is a per-minute limit
  (QuotaFailure + Help, and RetryInfo ``retryDelay`` when ``retry_after`` seconds is given); with
  ``quota: true`` it is the "prepayment credits are depleted" billing error. ``headers`` adds headers
  (e.g. ``{"retry-after": "2"}``), ``message`` replaces the text.
- ``cut_after: n``: after n tokens send half of the next event and end the body (``partial: false``
  skips the half event; ``drop: true`` aborts the connection instead).
- ``finish_without_reason: true``: send every event but leave ``finishReason`` out, then end.
- ``error_after: n``: after n tokens send an in-stream ``{"error": ...}`` event and end.
- ``stall_after: n`` with ``stall_s`` (default 3600): go silent after n tokens, then resume.
- ``times: n`` (+ optional ``fail_key``): only the first n such requests fail.
- ``echo_key: true``: the error's message (HTTP or in-stream) quotes the key the request carried.

Token positions count thought and answer tokens together, returned or not.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from providers.simulator.app import Receive, Scope, Send, SimulatorApp, _read_body
from providers.simulator.plan import Fault, RequestError
from providers.simulator.respond import DropConnection
from tests.fakes.gemini import catalogue, wire
from tests.fakes.gemini.plan import GoogleError, build_plan, options, parse_body, resolve_model
from tests.fakes.gemini.respond import GeminiResponder, send_json

Headers = list[tuple[bytes, bytes]]

VERSIONS = ("v1beta", "v1")
REDACTED = "<redacted>"
_SECRET_HEADERS = (b"x-goog-api-key", b"authorization")
_METHODS = ("streamGenerateContent", "generateContent")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class _Call:
    """One generate request: API version, model name, streamed or not, SSE or JSON-array framing."""

    version: str
    model: str
    stream: bool
    sse: bool


class GeminiSimulatorApp(SimulatorApp):
    """The ASGI callable; counters and ``recent_requests`` as in the OpenAI simulator.

    Each ``recent_requests`` entry is ``{method, path, query, headers, body}`` with key values redacted
    (the names stay, so a test can see *how* the key was sent).
    """

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: Headers = [(b"vary", b"Origin, X-Origin, Referer"), (b"x-xss-protection", b"0")]
        path, method = scope.get("path", ""), scope.get("method", "GET")
        route = path[len(self.prefix) :] if path.startswith(self.prefix + "/") else None
        if route == "/health" and method in ("GET", "HEAD"):
            await _empty(send)
            return
        segments = (route or "").split("/")
        if route is None or len(segments) not in (3, 4) or segments[1] not in VERSIONS or segments[2] != "models":
            await _not_found(send, headers, path)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        record = _record(scope, method, path, query)
        self.recent_requests.append(record)
        denied = self._denied(scope, dict(query))
        if denied is not None:
            await send_json(send, denied[0], denied[1], headers)
            return
        try:
            if len(segments) == 3 and method == "GET":
                await send_json(send, 200, _models_page(dict(query)), headers)
            elif len(segments) == 4 and ":" not in segments[3] and method == "GET":
                model = resolve_model(segments[3], segments[1], "generateContent")
                await send_json(send, 200, wire.model_resource(model), headers)
            elif len(segments) == 4 and method == "POST" and segments[3].partition(":")[2] in _METHODS:
                name, _, action = segments[3].partition(":")
                stream = action == "streamGenerateContent"
                sse = dict(query).get("alt") == "sse"
                call = _Call(version=segments[1], model=name, stream=stream, sse=sse)
                await self._generate(call, receive, send, headers, record, _supplied_key(scope, dict(query)))
            else:
                await _not_found(send, headers, path)
        except GoogleError as exc:
            await send_json(send, exc.code, exc.body, headers)

    def _denied(self, scope: Scope, query: dict[str, str]) -> tuple[int, dict[str, Any]] | None:
        if self.api_key is None:
            return None
        supplied = _supplied_key(scope, query).encode("latin-1")
        if not supplied:
            return 403, wire.unregistered_caller_body()
        if not hmac.compare_digest(supplied, self.api_key.encode()):
            return 400, wire.api_key_invalid_body()
        return None

    async def _generate(
        self, call: _Call, receive: Receive, send: Send, headers: Headers, record: dict[str, Any], key: str
    ) -> None:
        try:
            raw = await _read_body(receive)
        except RequestError as exc:
            raise GoogleError.invalid(exc.message) from exc
        if raw is None:
            return  # client left before sending the whole body
        self.request_count += 1
        body = parse_body(raw)
        record["body"] = body
        model = resolve_model(call.model, call.version, "streamGenerateContent" if call.stream else "generateContent")
        fault = self._gemini_fault(options(body).get("fail"), key)
        if fault is not None and fault.status is not None:
            status, error = _fault_body(fault, model.id)
            extra = [(k.lower().encode(), v.encode()) for k, v in fault.headers.items()]
            await send_json(send, status, error, headers + extra)
            return
        plan = build_plan(body, model, call.stream, fault)
        responder = GeminiResponder(plan, send, headers)
        work = responder.stream(sse=call.sse) if call.stream else responder.complete()
        try:
            await self._run_watched(work, responder, receive)  # type: ignore[arg-type]
        except DropConnection:
            return  # returning mid-body makes the server abort the connection

    def _gemini_fault(self, spec: Any, key: str) -> Fault | None:
        try:
            return self._active_fault(spec, key)
        except RequestError as exc:
            raise GoogleError.invalid(exc.message) from exc


def create_app(prefix: str = "", api_key: str | None = None) -> GeminiSimulatorApp:
    """Build the simulator; with ``api_key`` set, model routes require that key."""
    return GeminiSimulatorApp(prefix=prefix, api_key=api_key)


def _supplied_key(scope: Scope, query: dict[str, str]) -> str:
    """The key from ``x-goog-api-key``, else from the ``key`` query parameter."""
    values = [v for k, v in scope.get("headers", []) if k.lower() == b"x-goog-api-key"]
    return values[0].decode("latin-1") if values else query.get("key", "")


def _record(scope: Scope, method: str, path: str, query: list[tuple[str, str]]) -> dict[str, Any]:
    headers = {
        k.decode("latin-1").lower(): REDACTED if k.lower() in _SECRET_HEADERS else v.decode("latin-1")
        for k, v in scope.get("headers", [])
    }
    return {
        "method": method,
        "path": path,
        "query": {k: REDACTED if k == "key" else v for k, v in query},
        "headers": headers,
        "body": None,
    }


def _fault_body(fault: Fault, model: str) -> tuple[int, dict[str, Any]]:
    status = fault.status or 500
    if status == 429 and fault.quota:
        return status, wire.credits_depleted_body(fault.message)
    if status == 429:
        return status, wire.rate_limited_body(model, fault.retry_after, fault.message)
    return status, wire.error_body(status, fault.message)


def _models_page(query: dict[str, str]) -> dict[str, Any]:
    try:
        size = int(query.get("pageSize") or DEFAULT_PAGE_SIZE)
        offset = int(base64.urlsafe_b64decode(query["pageToken"]).decode()) if query.get("pageToken") else 0
    except ValueError as exc:
        raise GoogleError.invalid("Invalid page size or page token.") from exc
    size = min(max(1, size), MAX_PAGE_SIZE)
    models = list(catalogue.MODELS[offset : offset + size])
    more = offset + size < len(catalogue.MODELS)
    token = base64.urlsafe_b64encode(str(offset + size).encode()).decode() if more else None
    return wire.models_page(models, token)


async def _not_found(send: Send, headers: Headers, path: str) -> None:
    await send_json(send, 404, wire.error_body(404, f"Method not found: {path}", "NOT_FOUND"), headers)


async def _empty(send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
