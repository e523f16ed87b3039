"""Batches a stream's deltas for browsers and keeps its partial text saved."""

from __future__ import annotations

import asyncio
import logging
import time

from channels.db import database_sync_to_async
from django.conf import settings
from redis.exceptions import RedisError

from engine import events, store
from engine.live import LiveState, live_store

log = logging.getLogger(__name__)

# Redis (live state, channel layer) may restart under a stream; the stream goes on without it.
SHARED_STATE_ERRORS = (RedisError, OSError)
FINAL_EVENT_ATTEMPTS = 5


class Relay:
    def __init__(self, node_id: str, canvas_id: str):
        self.node_id = node_id
        self.canvas_id = canvas_id
        self.flush_s = settings.PRISM_FLUSH_MS / 1000
        self.persist_s = settings.PRISM_PERSIST_MS / 1000
        self.seq = 0
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._pending_text: list[str] = []
        self._pending_reasoning: list[str] = []
        self._last_flush = time.monotonic()
        self._last_persist = time.monotonic()
        self._persisted_seq = 0
        self._redis_failing = False  # so an outage is logged once per stream, not at every flush

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
        (self._pending_text if kind == "text" else self._pending_reasoning).append(fragment)

    def seconds_to_flush(self) -> float | None:
        """How long the pending deltas may still wait; None when nothing waits."""
        if not self.has_pending:
            return None
        return max(0.0, self._last_flush + self.flush_s - time.monotonic())

    async def flush_if_due(self) -> None:
        wait = self.seconds_to_flush()
        if wait is not None and wait <= 0:
            await self.flush()
        if time.monotonic() - self._last_persist >= self.persist_s:
            await self.persist()

    async def flush(self) -> None:
        if not self.has_pending:
            return
        text, reasoning = "".join(self._pending_text), "".join(self._pending_reasoning)
        self._pending_text.clear()
        self._pending_reasoning.clear()
        self._text.append(text)
        self._reasoning.append(reasoning)
        self.seq += 1
        self._last_flush = time.monotonic()
        # Live state first, then the event: a client that joins in between reads it from the snapshot.
        try:
            await self._write_live(text, reasoning)
            await events.send(
                self.canvas_id,
                events.NodeDelta(type="node.delta", node=self.node_id, seq=self.seq, text=text, reasoning=reasoning),
            )
        except SHARED_STATE_ERRORS as exc:
            # The text stays here and goes on being saved; the next flush repairs the live state, and
            # browsers that missed a delta see a gap in seq and resynchronise from the snapshot.
            if not self._redis_failing:
                log.warning("Stream %s goes on without Redis for now (%s)", self.node_id, exc)
            self._redis_failing = True
        else:
            if self._redis_failing:
                log.warning("Stream %s reaches Redis again at seq %s", self.node_id, self.seq)
            self._redis_failing = False

    async def _write_live(self, text: str, reasoning: str) -> None:
        store_ = live_store()
        if not await store_.append(self.node_id, self.seq, text, reasoning):
            # The store lost a write or its state (Redis restarted): put back the whole text.
            await store_.replace(self.node_id, LiveState(self.text, self.reasoning, self.seq))

    async def persist(self) -> None:
        """Save the partial text (and the heartbeat the sweeper watches)."""
        self._last_persist = time.monotonic()
        await database_sync_to_async(store.save_partial)(self.node_id, self.text, self.reasoning, self.seq)
        self._persisted_seq = self.seq


async def send_event(canvas_id: str, payload: events.CanvasEvent, *, final: bool = False) -> None:
    """Send an event without letting Redis end the run; the one that ends a response is retried,
    as a browser waits for it to show the final state."""
    attempts = FINAL_EVENT_ATTEMPTS if final else 1
    for attempt in range(attempts):
        try:
            await events.send(canvas_id, payload)
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
