"""Sends a GeminiPlan over ASGI: paced SSE (``alt=sse``), a streamed JSON array, or one JSON body.

Pacing uses absolute deadlines (``start + ttft + i * interval``) like the OpenAI responder. Hidden
thoughts (thinking without ``includeThoughts``) take their time but send nothing, so a thinking model's
first visible event comes late, as it does on the real API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from providers.simulator.respond import PacedResponder
from tests.fakes.gemini import wire
from tests.fakes.gemini.plan import GeminiPlan

Send = Callable[[dict[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

SSE_HEADERS: Headers = [(b"content-type", b"text/event-stream"), (b"x-content-type-options", b"nosniff")]
JSON_HEADERS: Headers = [(b"content-type", b"application/json; charset=UTF-8")]


@dataclass(frozen=True)
class Event:
    start: int  # index of the first token it carries (the fault positions are token counts)
    end: int  # index after its last token
    body: dict[str, Any]


async def send_json(send: Send, status: int, data: dict[str, Any], headers: Headers) -> None:
    payload = wire.pretty(data)
    base = JSON_HEADERS + [(b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": base + headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


class GeminiResponder(PacedResponder):
    """Gemini's streamGenerateContent (SSE or one JSON array, streamed) and generateContent."""

    plan: GeminiPlan

    async def stream(self, sse: bool = True) -> None:
        """``alt=sse``: ``data: {...}`` events ending in CRLF; otherwise one JSON array, streamed."""
        await self._start_response(200, SSE_HEADERS if sse else JSON_HEADERS)
        self._start = self._loop.time()
        events = self.events()
        first = True
        for number, event in enumerate(events):
            if await self._fault_before(event, is_last=number == len(events) - 1, sse=sse):
                return
            await self._sleep_until(self._deadline(max(0, event.end - 1)))
            if sse:
                await self._body(wire.sse(event.body))
            else:
                await self._body((b"[" if first else b",\r\n") + wire.pretty(event.body).rstrip())
            first = False
        await self._end(b"" if sse else b"]")

    async def complete(self) -> None:
        """``generateContent``: wait as long as generation would take, then send one JSON body."""
        plan = self.plan
        if self.fault.stall_after is not None and self.fault.stall_after <= plan.total_tokens:
            await asyncio.sleep(self.fault.stall_s)
            self._start += self.fault.stall_s
        await self._sleep_until(self._deadline(max(0, plan.total_tokens - 1)))
        if self.fault.error_after is not None and self.fault.error_after <= plan.total_tokens:
            await self.send_json(500, wire.error_body(500))
            return
        parts = []
        if plan.include_thoughts and plan.thoughts:
            parts.append({"text": "".join(plan.thoughts), "thought": True})
        if plan.content:
            parts.append(self._text_part("".join(plan.content)))
        body = self._response(parts, len(plan.thoughts), len(plan.content), final=True)
        if self.fault.cut_after is not None and self.fault.cut_after <= plan.total_tokens:
            await self._start_response(200, JSON_HEADERS)
            await self._cut(wire.pretty(body))
            return
        await self.send_json(200, body)

    async def send_json(self, status: int, data: dict[str, Any]) -> None:
        self.finished = True
        await send_json(self._send, status, data, self._headers)  # Gemini's JSON: indented, CRLF

    def events(self) -> list[Event]:
        """Every chunk of the stream in order; the last one carries finishReason and the full usage."""
        plan = self.plan
        if plan.block_reason:
            usage = wire.usage_metadata(plan.prompt_tokens, plan.cached_tokens, 0, 0)
            body = wire.response(None, usage, plan.model.id, plan.response_id, plan.block_reason)
            return [Event(0, 0, body)]
        groups: list[tuple[int, int, bool]] = []  # (start, end, is_thought) of each visible chunk
        thoughts = len(plan.thoughts)
        if plan.include_thoughts:
            groups += _groups(0, thoughts, plan.chunk_tokens, thought=True)
        groups += _groups(thoughts, plan.total_tokens, plan.chunk_tokens, thought=False)
        if not groups or groups[-1][2]:
            # Nothing visible after the thoughts (budget spent thinking): a final event without parts.
            groups.append((plan.total_tokens, plan.total_tokens, False))
        events = []
        tokens = plan.thoughts + plan.content
        for number, (start, end, thought) in enumerate(groups):
            text = "".join(tokens[start:end])
            if not text:
                parts = []
            elif thought:
                parts = [{"text": text, "thought": True}]
            else:
                parts = [self._text_part(text) if start == thoughts else {"text": text}]
            final = number == len(groups) - 1
            done_thoughts = min(end, thoughts) if not final else thoughts
            done_content = max(0, end - thoughts) if not final else len(plan.content)
            events.append(Event(start, end, self._response(parts, done_thoughts, done_content, final)))
        return events

    def _response(self, parts: list[dict[str, Any]], thoughts: int, content: int, final: bool) -> dict[str, Any]:
        plan = self.plan
        reason = plan.finish_reason if final and not plan.finish_without_reason else None
        usage = wire.usage_metadata(plan.prompt_tokens, plan.cached_tokens, content, thoughts)
        return wire.response([wire.candidate(parts, reason)], usage, plan.model.id, plan.response_id)

    def _text_part(self, text: str) -> dict[str, Any]:
        # Gemini 3 signs its thinking on the first answer part; clients echo it back in later turns.
        if self.plan.thought_signature:
            return {"text": text, "thoughtSignature": self.plan.thought_signature}
        return {"text": text}

    async def _fault_before(self, event: Event, is_last: bool, sse: bool) -> bool:
        """Apply a mid-stream fault due before ``event``; True when the stream is over.

        A fault at token n fires before the first event starting at or after n, or before the last
        event when n lies beyond it (so ``cut_after`` larger than the answer cuts the final event).
        """
        fault = self.fault

        def due(position: int | None) -> bool:
            return position is not None and (event.start >= position or is_last)

        if due(fault.stall_after):
            await asyncio.sleep(fault.stall_s)
            self._start += fault.stall_s  # later tokens resume at the normal pace
            fault = self.fault = replace(fault, stall_after=None)
        if due(fault.error_after):
            error = wire.error_body(500, fault.message)
            await self._end(wire.sse(error) if sse else b"[" + wire.pretty(error).rstrip() + b"]")
            return True
        if due(fault.cut_after):
            await self._sleep_until(self._deadline(max(0, event.end - 1)))
            await self._cut(wire.sse(event.body) if sse else wire.pretty(event.body))
            return True
        return False


def _groups(start: int, end: int, size: int, thought: bool) -> list[tuple[int, int, bool]]:
    return [(i, min(i + size, end), thought) for i in range(start, end, size)]
