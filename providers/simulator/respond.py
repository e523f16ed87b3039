"""Sends a Plan over ASGI: paced SSE for ``stream: true``, one JSON body otherwise.

Pacing uses absolute deadlines (``start + ttft + i * interval``) so that time spent
serialising and sending never accumulates into drift.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from providers.simulator import wire
from providers.simulator.plan import Fault, Plan

Send = Callable[[dict[str, Any]], Awaitable[None]]

KEEP_ALIVE_EVERY_S = 1.0
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


async def send_json(send: Send, status: int, data: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    payload = wire.dumps(data).encode()
    base = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": base + headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


class DropConnection(Exception):
    """Raised to make the server close the socket without finishing the chunked body."""


class PacedResponder:
    """What every simulated provider's response has in common: its ASGI messages, its tokens' absolute
    deadlines, keep-alives while the first token is far off, and a fault's cut. Each provider's
    responder adds its own wire format."""

    KEEP_ALIVE: bytes | None = None  # sent every KEEP_ALIVE_EVERY_S before the first token, if set

    def __init__(self, plan: Any, send: Send, extra_headers: list[tuple[bytes, bytes]]) -> None:
        self.plan = plan
        self.fault = plan.fault or Fault()
        self._send = send
        self._headers = extra_headers
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()
        self.finished = False  # set just before the final body message, see SimulatorApp._run_watched

    async def send_json(self, status: int, data: dict[str, Any]) -> None:
        self.finished = True
        await send_json(self._send, status, data, self._headers)

    async def _cut(self, next_bytes: bytes) -> None:
        """Send half of the next message (if ``partial``) and end the body or the socket."""
        if self.fault.partial:
            await self._body(next_bytes[: len(next_bytes) // 2])
        if self.fault.drop:
            raise DropConnection
        await self._end(b"")

    async def _wait_first_token(self) -> None:
        first = self._deadline(0)
        if self.KEEP_ALIVE is not None:
            tick = self._start + KEEP_ALIVE_EVERY_S
            while tick < first:
                await self._sleep_until(tick)
                await self._body(self.KEEP_ALIVE)
                tick += KEEP_ALIVE_EVERY_S
        await self._sleep_until(first)

    def _deadline(self, index: int) -> float:
        return self._start + self.plan.ttft_s + max(0, index) * self.plan.interval_s

    async def _sleep_until(self, deadline: float) -> None:
        # sleep(0) still yields, so a fast stream cannot starve the disconnect watcher.
        await asyncio.sleep(max(0.0, deadline - self._loop.time()))

    async def _start_response(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        await self._send({"type": "http.response.start", "status": status, "headers": headers + self._headers})

    async def _body(self, data: bytes) -> None:
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def _end(self, data: bytes) -> None:
        self.finished = True
        await self._send({"type": "http.response.body", "body": data, "more_body": False})


class Responder(PacedResponder):
    """OpenAI's chat completions: ``chat.completion.chunk`` events ending in ``[DONE]``, or one body."""

    # DeepSeek keeps a queued stream alive with SSE comments.
    KEEP_ALIVE = b": keep-alive\n\n"

    def __init__(self, plan: Plan, send: Send, extra_headers: list[tuple[bytes, bytes]]) -> None:
        super().__init__(plan, send, extra_headers)
        self._header = wire.header(plan.completion_id, plan.created, plan.model)

    async def stream(self) -> None:
        await self._start_response(200, SSE_HEADERS)
        self._start = self._loop.time()
        await self._body(wire.sse(self._chunk({"role": "assistant", "content": ""})))
        await self._wait_first_token()
        tokens = self.plan.tokens
        for index in range(len(tokens) + 1):
            if await self._stream_fault(index, tokens):
                return
            if index < len(tokens):
                await self._sleep_until(self._deadline(index))
                field, text = tokens[index]
                await self._body(wire.sse(self._chunk({field: text})))
        await self._body(wire.sse(self._final_chunk()))
        usage = wire.sse(self._usage_chunk()) if self.plan.include_usage else b""
        await self._end(usage, done=True)

    async def complete(self) -> None:
        """Non-streaming: wait as long as generation would take, then send one JSON body."""
        count = len(self.plan.tokens)
        if self.fault.stall_after is not None and self.fault.stall_after <= count:
            await asyncio.sleep(self.fault.stall_s)
            self._start += self.fault.stall_s
        await self._sleep_until(self._deadline(max(0, count - 1)))
        if self.fault.error_after is not None and self.fault.error_after <= count:
            await self.send_json(500, wire.status_error_body(500))
            return
        completion = self._completion()
        if self.fault.cut_after is not None and self.fault.cut_after <= count:
            await self._start_response(200, [(b"content-type", b"application/json")])
            await self._cut(wire.dumps(completion).encode())
            return
        await self.send_json(200, completion)

    async def _stream_fault(self, index: int, tokens: list[tuple[str, str]]) -> bool:
        """Apply a mid-stream fault due before token ``index``; True when the stream is over."""
        fault = self.fault
        if fault.stall_after == index:
            await asyncio.sleep(fault.stall_s)
            self._start += fault.stall_s  # later tokens resume at the normal pace
        if fault.error_after == index:
            await self._end(wire.sse(wire.stream_error_body(fault.message)))
            return True
        if fault.cut_after == index:
            if index < len(tokens):
                field, text = tokens[index]
                next_event = wire.sse(self._chunk({field: text}))
            else:
                next_event = wire.sse(self._final_chunk())
            await self._cut(next_event)
            return True
        return False

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return wire.chunk(self._header, delta, finish_reason, self.plan.include_usage)

    def _final_chunk(self) -> dict[str, Any]:
        return self._chunk({}, self.plan.finish_reason)

    def _usage_body(self) -> dict[str, Any]:
        plan = self.plan
        generated = len(plan.reasoning) + len(plan.content)
        return wire.usage(plan.prompt_tokens, generated, len(plan.reasoning))

    def _usage_chunk(self) -> dict[str, Any]:
        return {**wire.chunk(self._header, None), "usage": self._usage_body()}

    def _completion(self) -> dict[str, Any]:
        plan = self.plan
        reasoning = (plan.reasoning_field, "".join(plan.reasoning)) if plan.reasoning else None
        content = "".join(plan.content)
        return wire.completion(self._header, content, reasoning, plan.finish_reason, self._usage_body())

    async def _end(self, data: bytes, done: bool = False) -> None:
        await super()._end(data + b"data: [DONE]\n\n" if done else data)
