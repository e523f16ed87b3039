"""A stream's text as it arrives: buffered here, published in batches by the loop's Publisher."""

from __future__ import annotations

import asyncio
import logging
import time

from engine import events, sender
from engine.live import live_store
from engine.publisher import SHARED_STATE_ERRORS, publisher
from providers.text import clean_text

log = logging.getLogger(__name__)

FINAL_EVENT_ATTEMPTS = 5


class Relay:
    def __init__(self, node_id: str, canvas_id: str):
        self.node_id = node_id
        self.canvas_id = canvas_id
        self.seq = 0
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._pending_text: list[str] = []
        self._pending_reasoning: list[str] = []
        self._pending_events: list[events.CanvasEvent] = []
        # The publisher's: the tick publishing this stream's last delta, and what is saved in the database
        # (the claim has just written the heartbeat).
        self.in_flight: asyncio.Future | None = None
        self.persisted_seq = 0
        self.saved_at = time.monotonic()
        # A stream lives on one loop, and so does that loop's publisher: looked up once, not per fragment.
        self._publisher = publisher()

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending_text or self._pending_reasoning)

    def add(self, kind: str, fragment: str) -> None:
        # Model output is untrusted: a NUL or a lone surrogate taken in here would fail the live state,
        # the events and every save of the node, the final one included.
        fragment = clean_text(fragment)
        if not fragment:
            return
        (self._pending_text if kind == "text" else self._pending_reasoning).append(fragment)
        self._publisher.mark_dirty(self, at_once=self.seq == 0)

    def send_soon(self, payload: events.CanvasEvent) -> None:
        """Send an event about this stream with the next tick, ahead of its deltas, without waiting for it
        (drain waits for it as for a delta)."""
        self._pending_events.append(payload)
        self._publisher.mark_dirty(self)

    def take_events(self) -> list[events.CanvasEvent]:
        taken, self._pending_events = self._pending_events, []
        return taken

    def take(self) -> events.NodeDelta:
        """The pending fragments as the next delta (the publisher's tick calls this)."""
        text, reasoning = "".join(self._pending_text), "".join(self._pending_reasoning)
        self._pending_text.clear()
        self._pending_reasoning.clear()
        self._text.append(text)
        self._reasoning.append(reasoning)
        self.seq += 1
        return events.NodeDelta(type="node.delta", node=self.node_id, seq=self.seq, text=text, reasoning=reasoning)

    async def drain(self) -> None:
        """Return once every fragment added so far is in the live state and sent to the canvas."""
        await self._publisher.drain(self)

    def running(self):
        """Keep the partial text saved and the heartbeat fresh while the run lives (a context manager)."""
        return self._publisher.running(self)


async def send_event(canvas_id: str, payload: events.CanvasEvent, *, final: bool = False) -> None:
    """Send an event without letting Redis end the run; the one that ends a response is retried,
    as a browser waits for it to show the final state."""
    attempts = FINAL_EVENT_ATTEMPTS if final else 1
    for attempt in range(attempts):
        try:
            await sender.send(canvas_id, payload)
            return
        except SHARED_STATE_ERRORS as exc:
            if attempt == attempts - 1:
                # The node is stored; a browser that reloads or reconnects reads it from there.
                log.warning("%s of %s not sent (%s)", payload["type"], _node_id(payload), exc)
                return
            await asyncio.sleep(0.25 * 2**attempt)


def _node_id(payload: events.CanvasEvent) -> str:
    node = payload["node"]
    return node if isinstance(node, str) else node["id"]


async def forget_live(node_id: str) -> None:
    """Drop a finished response's live state; if Redis is away, its TTL drops it later."""
    try:
        await live_store().clear(node_id)
    except SHARED_STATE_ERRORS as exc:
        log.warning("Live state of %s not cleared (%s)", node_id, exc)
