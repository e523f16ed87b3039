"""Batches a stream's deltas for browsers and keeps its partial text saved."""

from __future__ import annotations

import time

from channels.db import database_sync_to_async
from django.conf import settings

from engine import events, store
from engine.live import live_store


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
        await live_store().append(self.node_id, self.seq, text, reasoning)
        await events.send(
            self.canvas_id,
            events.NodeDelta(type="node.delta", node=self.node_id, seq=self.seq, text=text, reasoning=reasoning),
        )

    async def persist(self) -> None:
        """Save the partial text (and the heartbeat the sweeper watches)."""
        self._last_persist = time.monotonic()
        await database_sync_to_async(store.save_partial)(self.node_id, self.text, self.reasoning, self.seq)
        self._persisted_seq = self.seq
