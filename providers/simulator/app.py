"""Raw ASGI app serving an OpenAI-compatible API from the simulated catalogue.

Routes (under ``prefix``): ``GET /v1/models``, ``GET /health``, ``POST /v1/chat/completions``
(``/models`` and ``/chat/completions`` are accepted too, as DeepSeek does). Per-request
behaviour is tuned by the body's ``simulator`` object (the openai SDK's ``extra_body``):
``ttft_ms``, ``tokens_per_s`` (0 = unpaced), ``length``, ``text`` (the answer, word by word, instead
of generated words; a ``\\uXXXX`` written out in it is sent as that character, even NUL or a lone
surrogate, which goes out as JSON's ``\ud800``),
``reasoning_field`` (``reasoning`` | ``reasoning_content``), ``reasoning_length`` and ``fail``:

- ``status`` (400-599): answer with that HTTP status and an OpenAI error body; for 429,
  ``quota: true`` switches to ``insufficient_quota``; ``retry_after`` (s) / ``retry_after_ms``
  set those headers; ``message`` and ``headers`` override the defaults.
- ``cut_after: n``: after n tokens send half of the next event and end the body
  (``partial: false`` skips the half event; ``drop: true`` aborts the connection instead).
- ``error_after: n``: after n tokens send an in-stream ``{"error": ...}`` event and end.
- ``stall_after: n`` with ``stall_s`` (default 3600): go silent after n tokens, then resume.
- ``times: n`` (+ optional ``fail_key``): only the first n such requests fail.
- ``echo_key: true``: the error's message (an HTTP error or an in-stream error event) quotes the key
  the request carried, raw and as ``Bearer <key>``, as a careless gateway does.

Token positions n count reasoning and answer tokens together.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import hmac
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from providers.simulator import catalogue, wire
from providers.simulator.metrics import ServerStats, prometheus_text
from providers.simulator.plan import (
    Caps,
    Fault,
    RequestError,
    build_plan,
    echo_message,
    fault_key,
    options,
    parse_body,
    parse_fault,
    resolve_model,
)
from providers.simulator.respond import DropConnection, Responder, send_json

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

MAX_BODY_BYTES = 8 * 1024 * 1024
_CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
_MODELS_PATHS = ("/v1/models", "/models")
_MAX_FAIL_KEYS = 10_000


class SimulatorApp:
    """The ASGI callable. Counters are public so tests can observe connection handling.

    ``active_streams`` counts chat completions being generated right now (streaming or not);
    ``cancelled_streams`` counts those stopped because the client went away; ``chat_clients`` holds the
    address (host, port) of each connection that asked for one, so a reused connection shows as one.
    """

    def __init__(
        self, prefix: str = "", api_key: str | None = None, legacy_metrics: bool = False, caps: Caps | None = None
    ) -> None:
        self.prefix = prefix.rstrip("/")
        self.api_key = api_key
        self.caps = caps
        self.legacy_metrics = legacy_metrics
        self.stats = ServerStats()
        self.active_streams = 0
        self.cancelled_streams = 0
        self.request_count = 0
        self.chat_clients: set[tuple] = set()
        self.recent_requests: collections.deque[dict[str, Any]] = collections.deque(maxlen=32)
        self.fail_counts: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: Headers = [(b"x-request-id", f"req_sim_{uuid.uuid4().hex[:24]}".encode())]
        path = scope.get("path", "")
        if not path.startswith(self.prefix + "/"):
            await _not_found(send, headers)
            return
        route, method = path[len(self.prefix) :], scope.get("method", "GET")
        if route == "/health":
            if await _guard_method(method, ("GET", "HEAD"), send, headers):
                await _empty(send)
        elif route == "/metrics":
            # Like vLLM, /health and /metrics are not behind the API key.
            if await _guard_method(method, ("GET",), send, headers):
                await _text(send, prometheus_text(self.stats, self.legacy_metrics))
        elif not (route in _CHAT_PATHS or route in _MODELS_PATHS):
            await _not_found(send, headers)
        elif not self._authorised(scope):
            body = wire.error_body("Incorrect API key provided", code="invalid_api_key")
            await send_json(send, 401, body, headers)
        elif route in _MODELS_PATHS:
            if await _guard_method(method, ("GET",), send, headers):
                await send_json(send, 200, wire.models_body(catalogue.MODELS), headers)
        elif await _guard_method(method, ("POST",), send, headers):
            self.chat_clients.add(tuple(scope.get("client") or ()))
            await self._chat(receive, send, headers, _bearer(scope))

    def _authorised(self, scope: Scope) -> bool:
        if self.api_key is None:
            return True
        values = [v for k, v in scope.get("headers", []) if k.lower() == b"authorization"]
        expected = b"Bearer " + self.api_key.encode()
        return bool(values) and hmac.compare_digest(values[0], expected)

    async def _chat(self, receive: Receive, send: Send, headers: Headers, key: str) -> None:
        try:
            raw = await _read_body(receive)
            if raw is None:
                return  # client left before sending the whole body
            self.request_count += 1
            body = parse_body(raw)
            self.recent_requests.append(body)
            model = resolve_model(body)
            fault = self._active_fault(options(body).get("fail"), key)
            if fault is not None and fault.status is not None:
                await send_json(send, fault.status, _fault_body(fault), headers + _fault_headers(fault))
                return
            plan = build_plan(body, model, fault, self.caps)
            messages = body.get("messages")
            self.stats.record_prompt(messages if isinstance(messages, list) else [])
        except RequestError as exc:
            error = wire.error_body(exc.message, code=exc.code, param=exc.param)
            await send_json(send, exc.status, error, headers)
            return
        responder = Responder(plan, send, headers)
        work = responder.stream() if plan.stream else responder.complete()
        self.stats.running += 1
        try:
            await self._run_watched(work, responder, receive)
            self.stats.requests_finished += 1
        except DropConnection:
            return  # returning mid-body makes the server abort the connection
        finally:
            self.stats.running -= 1
            self.stats.generation_tokens += len(plan.tokens)

    def _active_fault(self, spec: Any, api_key: str = "") -> Fault | None:
        """The fault to inject, honouring ``times``: only the first n requests per key fail.
        ``api_key`` is the key the request carried, for ``echo_key``."""
        if spec is None:
            return None
        fault = parse_fault(spec, self.caps)
        if fault.echo_key:
            fault = dataclasses.replace(fault, message=echo_message(api_key))
        if fault.times is None:
            return fault
        key = fault_key(spec)
        if key not in self.fail_counts and len(self.fail_counts) >= _MAX_FAIL_KEYS:
            self.fail_counts.clear()  # bounded memory, whatever keys clients invent
        seen = self.fail_counts.get(key, 0)
        self.fail_counts[key] = seen + 1
        return fault if seen < fault.times else None

    async def _run_watched(self, work: Awaitable[None], responder: Responder, receive: Receive) -> None:
        """Run ``work`` while listening for ``http.disconnect``; stop at once if the client goes.

        Servers such as uvicorn silently drop sends after a disconnect, so watching
        ``receive()`` is the only prompt signal that nobody is reading any more.
        """
        self.active_streams += 1
        task = asyncio.ensure_future(work)
        watcher = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                task.result()
            elif responder.finished:
                await task  # the disconnect is just the server noticing the response ended
            else:
                self.cancelled_streams += 1
        except OSError:
            self.cancelled_streams += 1  # some servers raise on send once the peer is gone
        finally:
            self.active_streams -= 1
            task.cancel()
            watcher.cancel()
            await asyncio.gather(task, watcher, return_exceptions=True)


def create_app(
    prefix: str = "", api_key: str | None = None, legacy_metrics: bool = False, caps: Caps | None = None
) -> SimulatorApp:
    """Build the simulator; with ``api_key`` set, ``/v1`` routes require that Bearer token.
    ``legacy_metrics`` serves /metrics under vLLM's older metric names; ``caps`` bounds what a request may ask."""
    return SimulatorApp(prefix=prefix, api_key=api_key, legacy_metrics=legacy_metrics, caps=caps)


def _bearer(scope: Scope) -> str:
    """The token of the request's ``Authorization: Bearer`` header, or ""."""
    values = [v for k, v in scope.get("headers", []) if k.lower() == b"authorization"]
    scheme, _, token = (values[0] if values else b"").decode("latin-1").partition(" ")
    return token if scheme.lower() == "bearer" else ""


def _fault_body(fault: Fault) -> dict[str, Any]:
    return wire.status_error_body(fault.status or 500, fault.message, fault.quota)


def _fault_headers(fault: Fault) -> Headers:
    headers: Headers = []
    if fault.retry_after is not None:
        value = fault.retry_after
        text = str(int(value)) if float(value).is_integer() else str(value)
        headers.append((b"retry-after", text.encode()))
    if fault.retry_after_ms is not None:
        headers.append((b"retry-after-ms", str(fault.retry_after_ms).encode()))
    if fault.status == 429 and not fault.quota:
        headers += [
            (b"x-ratelimit-limit-requests", b"60"),
            (b"x-ratelimit-remaining-requests", b"0"),
            (b"x-ratelimit-reset-requests", b"1s"),
        ]
    headers += [(k.lower().encode(), v.encode()) for k, v in fault.headers.items()]
    return headers


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestError(413, "Request body too large.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _guard_method(method: str, allowed: tuple[str, ...], send: Send, headers: Headers) -> bool:
    if method in allowed:
        return True
    body = wire.error_body(f"Method {method} not allowed.")
    await send_json(send, 405, body, headers + [(b"allow", ", ".join(allowed).encode())])
    return False


async def _not_found(send: Send, headers: Headers) -> None:
    await send_json(send, 404, wire.error_body("Not found."), headers)


async def _empty(send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _text(send: Send, text: str) -> None:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; version=0.0.4; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
