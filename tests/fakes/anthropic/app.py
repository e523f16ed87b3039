"""Raw ASGI app serving the Anthropic Messages API from the simulated Claude catalogue.

Routes (under ``prefix``): ``POST /v1/messages``, ``GET /v1/models``, ``GET /v1/models/{id}``,
``GET /health``. Requests need an ``anthropic-version`` date and, when the app has a key, a
matching ``x-api-key`` (or ``Authorization: Bearer``, which the 2.x SDK sends). The body's
``simulator`` object tunes each request like the OpenAI-compatible simulator's: ``ttft_ms``,
``tokens_per_s`` (0 = unpaced), ``length``, ``reasoning_length`` (thinking tokens, only when the
request has ``thinking``), plus Anthropic's own:

- ``cache_read`` / ``cache_write``: cached prompt tokens to report on top of the counted input;
- ``context_window``: override the model's window (a longer prompt gets the real 400);
- ``stop_reason``: force one (``refusal``, ``pause_turn``, ...);
- ``legacy_usage``: ``message_delta`` usage with ``output_tokens`` only, as before 2025;
- ``fail``: ``status`` (Anthropic error body; ``error_type``/``message`` override, ``quota`` means
  ``billing_error``; ``retry_after`` sets the header), ``cut_after`` / ``partial`` / ``drop``,
  ``error_after`` (an in-stream ``event: error``, ``overloaded_error`` unless ``error_type``),
  ``stall_after`` / ``stall_s``, ``times`` / ``fail_key``, ``echo_key`` (``message`` quotes the key
  sent, also in an in-stream error); token positions count thinking and text.
"""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from providers.simulator.app import Headers, Receive, Scope, Send, SimulatorApp, _read_body
from providers.simulator.plan import Fault, RequestError, options, parse_body
from providers.simulator.respond import DropConnection, send_json
from tests.fakes.anthropic import catalogue, wire
from tests.fakes.anthropic.plan import ApiError, build_plan, resolve_model
from tests.fakes.anthropic.respond import Responder

# Versions are dates; the SDK sends its own (2023-06-01 for years, later ones since).
FIRST_VERSION = b"2023-01-01"
_VERSION = re.compile(rb"\d{4}-\d{2}-\d{2}")
_MESSAGES_PATH = "/v1/messages"
_MODELS_PATH = "/v1/models"


class AnthropicSimulatorApp(SimulatorApp):
    """Shares the OpenAI simulator's connection handling (disconnect watching, the public counters
    ``active_streams`` / ``cancelled_streams`` / ``recent_requests``, ``times`` bookkeeping);
    only the routes and the wire shapes are Anthropic's."""

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = wire.new_id("req_")
        headers: Headers = [(b"request-id", request_id.encode())]
        path = scope.get("path", "")
        route, method = path[len(self.prefix) :], scope.get("method", "GET")
        if not path.startswith(self.prefix + "/"):
            await _error(send, 404, "not_found_error", "Not found", request_id, headers)
        elif route == "/health":
            if await _guard_method(method, ("GET", "HEAD"), send, request_id, headers):
                await send_json(send, 200, {"status": "ok"}, headers)
        elif route != _MESSAGES_PATH and route != _MODELS_PATH and not route.startswith(_MODELS_PATH + "/"):
            await _error(send, 404, "not_found_error", "Not found", request_id, headers)
        elif await self._refused(scope, send, request_id, headers):
            return
        elif route == _MESSAGES_PATH:
            if await _guard_method(method, ("POST",), send, request_id, headers):
                key = _api_key({k.lower(): v for k, v in scope.get("headers", [])}) or b""
                await self._messages(receive, send, request_id, headers, key.decode("latin-1"))
        elif await _guard_method(method, ("GET",), send, request_id, headers):
            await _models(route, send, request_id, headers)

    async def _refused(self, scope: Scope, send: Send, request_id: str, headers: Headers) -> bool:
        """Answer and return True when the key or the API version is missing or wrong."""
        sent = {k.lower(): v for k, v in scope.get("headers", [])}
        key = _api_key(sent)
        version = sent.get(b"anthropic-version")
        if self.api_key is not None and key is None:
            await _error(send, 401, "authentication_error", "x-api-key header is required", request_id, headers)
        elif self.api_key is not None and not hmac.compare_digest(key or b"", self.api_key.encode()):
            await _error(send, 401, "authentication_error", "invalid x-api-key", request_id, headers)
        elif version is None:
            message = "anthropic-version: header is required"
            await _error(send, 400, "invalid_request_error", message, request_id, headers)
        elif not _VERSION.fullmatch(version) or version < FIRST_VERSION:
            message = f"anthropic-version: {version.decode(errors='replace')!r} is not a valid version"
            await _error(send, 400, "invalid_request_error", message, request_id, headers)
        else:
            return False
        return True

    async def _messages(self, receive: Receive, send: Send, request_id: str, headers: Headers, key: str) -> None:
        try:
            raw = await _read_body(receive)
            if raw is None:
                return  # client left before sending the whole body
            self.request_count += 1
            body = parse_body(raw)
            self.recent_requests.append(body)
            model = resolve_model(body)
            spec = options(body).get("fail")
            fault = self._active_fault(spec, key)
            error_type = spec.get("error_type") if isinstance(spec, dict) else None
            if fault is not None and fault.status is not None:
                await _fail(send, fault, error_type, request_id, headers)
                return
            plan = build_plan(body, model, fault, error_type)
        except RequestError as exc:  # raised by the helpers shared with the OpenAI simulator
            status = 413 if exc.status == 413 else 400
            await _error(send, status, wire.error_type_for(status), exc.message, request_id, headers)
            return
        except ApiError as exc:
            await _error(send, exc.status, exc.type, exc.message, request_id, headers)
            return
        responder = Responder(plan, send, headers, request_id)
        work = responder.stream() if plan.stream else responder.complete()
        try:
            await self._run_watched(work, responder, receive)
        except DropConnection:
            return  # returning mid-body makes the server abort the connection


def create_app(prefix: str = "", api_key: str | None = None) -> AnthropicSimulatorApp:
    """Build the simulator; with ``api_key`` set, ``/v1`` routes require that ``x-api-key``."""
    return AnthropicSimulatorApp(prefix=prefix, api_key=api_key)


def _api_key(headers: dict[bytes, bytes]) -> bytes | None:
    """The key from ``x-api-key``, or from ``Authorization: Bearer``, which the 2.x SDK sends instead."""
    if b"x-api-key" in headers:
        return headers[b"x-api-key"]
    scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
    return token if scheme.lower() == b"bearer" and token else None


async def _models(route: str, send: Send, request_id: str, headers: Headers) -> None:
    if route == _MODELS_PATH:
        await send_json(send, 200, wire.models_body(catalogue.MODELS), headers)
        return
    model = catalogue.get(route[len(_MODELS_PATH) + 1 :])
    if model is None:
        await _error(send, 404, "not_found_error", f"model: {route.rsplit('/', 1)[-1]}", request_id, headers)
    else:
        await send_json(send, 200, wire.model_info(model), headers)


async def _fail(send: Send, fault: Fault, error_type: Any, request_id: str, headers: Headers) -> None:
    status = fault.status or 500
    type_ = error_type if isinstance(error_type, str) else "billing_error" if fault.quota else None
    body = wire.status_error_body(status, request_id, type_, fault.message)
    extra: Headers = []
    if fault.retry_after is not None:
        value = fault.retry_after
        extra.append((b"retry-after", (str(int(value)) if float(value).is_integer() else str(value)).encode()))
    if status == 429:
        reset = datetime.now(UTC) + timedelta(seconds=fault.retry_after or 1)
        extra += [
            (b"anthropic-ratelimit-requests-limit", b"50"),
            (b"anthropic-ratelimit-requests-remaining", b"0"),
            (b"anthropic-ratelimit-requests-reset", reset.strftime("%Y-%m-%dT%H:%M:%SZ").encode()),
        ]
    extra += [(k.lower().encode(), v.encode()) for k, v in fault.headers.items()]
    await send_json(send, status, body, headers + extra)


async def _error(send: Send, status: int, type_: str, message: str, request_id: str, headers: Headers) -> None:
    await send_json(send, status, wire.error_body(type_, message, request_id), headers)


async def _guard_method(method: str, allowed: tuple[str, ...], send: Send, request_id: str, headers: Headers) -> bool:
    if method in allowed:
        return True
    allow = [(b"allow", ", ".join(allowed).encode())]
    await _error(send, 405, "invalid_request_error", f"Method {method} not allowed.", request_id, headers + allow)
    return False
