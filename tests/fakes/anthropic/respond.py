"""Sends a Plan over ASGI as Anthropic does: paced SSE events for ``stream: true``, one Message otherwise.

The stream is a script of (token position, event) pairs in the exact order of WIRE-FORMATS.md §4;
events at position n go out when token n is due, and injected faults strike before the first
event of their position. Pacing uses absolute deadlines so sending time never accumulates as drift.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from providers.simulator.respond import SSE_HEADERS, PacedResponder
from tests.fakes.anthropic import wire
from tests.fakes.anthropic.plan import Plan

Send = Callable[[dict[str, Any]], Awaitable[None]]
Script = list[tuple[int, wire.JSON]]


class Responder(PacedResponder):
    """Anthropic's Messages API: ``message_start`` … ``message_stop`` events, or one message body."""

    # While the first token is far off, pings keep proxies from closing an idle stream.
    KEEP_ALIVE = wire.sse(wire.PING)

    def __init__(self, plan: Plan, send: Send, extra_headers: list[tuple[bytes, bytes]], request_id: str) -> None:
        super().__init__(plan, send, extra_headers)
        self.request_id = request_id

    async def stream(self) -> None:
        await self._start_response(200, SSE_HEADERS)
        self._start = self._loop.time()
        started = self._message([], None, self.plan.start_usage())
        await self._body(wire.sse(wire.message_start(started)))
        await self._wait_first_token()
        position = -1
        for at, event in self.script():
            if at != position:
                position = at
                if await self._fault_before(at, event):
                    return
                await self._sleep_until(self._deadline(min(at, len(self.plan.tokens) - 1)))
            await self._body(wire.sse(event))
        await self._end(wire.sse(wire.MESSAGE_STOP))

    def script(self) -> Script:
        """Every event after ``message_start`` and before ``message_stop``, with its token position."""
        plan = self.plan
        script: Script = []
        thought = len(plan.thinking)
        block = 0
        if plan.thinking:
            script.append((0, wire.block_start(0, wire.thinking_block())))
            script += [
                (i, wire.block_delta(0, {"type": "thinking_delta", "thinking": t})) for i, t in enumerate(plan.thinking)
            ]
            # The signature closes the thinking block, just before its content_block_stop.
            script.append((thought, wire.block_delta(0, {"type": "signature_delta", "signature": plan.signature})))
            script.append((thought, wire.block_stop(0)))
            block = 1
        if plan.text or not plan.thinking:  # a stream cut by max_tokens while thinking has no text block
            script.append((thought, wire.PING))
            script.append((thought, wire.block_start(block, wire.text_block())))
            script += [
                (thought + i, wire.block_delta(block, {"type": "text_delta", "text": t}))
                for i, t in enumerate(plan.text)
            ]
            script.append((len(plan.tokens), wire.block_stop(block)))
        script.append((len(plan.tokens), wire.message_delta(plan.stop_reason, plan.stop_sequence, plan.final_usage())))
        return script

    async def complete(self) -> None:
        """Non-streaming: wait as long as generation would take, then send the whole Message."""
        count = len(self.plan.tokens)
        if self.fault.stall_after is not None and self.fault.stall_after <= count:
            await asyncio.sleep(self.fault.stall_s)
            self._start += self.fault.stall_s
        await self._sleep_until(self._deadline(max(0, count - 1)))
        if self.fault.error_after is not None and self.fault.error_after <= count:
            status = wire.status_for_type(self.plan.error_type)
            body = wire.error_body(self.plan.error_type, wire.message_for(status), self.request_id)
            await self.send_json(status, body)
            return
        body = self._message(self._content(), self.plan.stop_reason, self._complete_usage())
        if self.fault.cut_after is not None and self.fault.cut_after <= count:
            await self._start_response(200, [(b"content-type", b"application/json")])
            await self._cut(wire.dumps(body).encode())
            return
        await self.send_json(200, body)

    async def _fault_before(self, position: int, next_event: wire.JSON) -> bool:
        """Apply a fault due at ``position``; True when the stream is over."""
        fault = self.fault
        if fault.stall_after == position:
            await asyncio.sleep(fault.stall_s)
            self._start += fault.stall_s  # later tokens resume at the normal pace
        if fault.error_after == position:
            error_type = self.plan.error_type
            status = wire.status_for_type(error_type)
            await self._end(wire.sse(wire.error_body(error_type, fault.message or wire.message_for(status))))
            return True
        if fault.cut_after == position:
            await self._cut(wire.sse(next_event))
            return True
        return False

    def _message(self, content: list[wire.JSON], stop_reason: str | None, usage: wire.JSON) -> wire.JSON:
        stop_sequence = self.plan.stop_sequence if stop_reason else None
        return wire.message(self.plan.message_id, self.plan.model, content, stop_reason, stop_sequence, usage)

    def _content(self) -> list[wire.JSON]:
        plan = self.plan
        content = []
        if plan.thinking:
            content.append(wire.thinking_block("".join(plan.thinking), plan.signature))
        if plan.text or not plan.thinking:
            content.append(wire.text_block("".join(plan.text)))
        return content

    def _complete_usage(self) -> wire.JSON:
        return {**self.plan.start_usage(), "output_tokens": len(self.plan.tokens)}
