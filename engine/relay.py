"""A stream's text from its provider to the canvas: the Relay of each stream buffers what arrives, and the
one Publisher of its event loop relays every stream of that loop in batches.

The run (engine.runner) adds each fragment to its stream's Relay, which only buffers it and marks itself
dirty. The publisher's one flusher task then, at most every PRISM_FLUSH_MS, takes every dirty stream's
pending text as that stream's next delta, writes all of them to the live state (live.append_many), and
only then sends one group message per canvas carrying that canvas's deltas in order ("canvas.batch",
which the consumer unpacks into one WebSocket message per delta): with Redis, appends and messages in one
script call (engine.sender.encoded_batches), else engine.sender.send_batches after the appends. Ticks
run one after the other, so each node's deltas go out numbered 1, 2, 3, … in order. Hundreds of streams
thus cost one Redis round trip per tick instead of two per delta each. A stream's
first text does not wait for the window to close: it is what its user is waiting for.

Every PRISM_PERSIST_MS the same publisher saves the partial text of every stream that advanced, and
the heartbeat of every registered run that is due one (the sweeper takes a run without a fresh
heartbeat for dead): a tenth of the streams at a time, each tenth in one statement, every tenth of the
period. Saved all at once, a hundred long answers (a megabyte of text rewritten, its Python on a database
thread, PostgreSQL compressing it) stalled the relay once a second: 50–140 ms gaps in every stream.

A stream ends here too: its closing event sent (retried, as a browser waits for it), its live state
dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from django.conf import settings
from redis.exceptions import RedisError

from engine import events, sender, store
from engine.db import in_db_thread
from engine.live import Append, LiveState, live_store
from engine.loops import PerLoop
from providers.text import clean_text

log = logging.getLogger(__name__)

# Redis (live state, channel layer) may restart under a stream; the stream goes on without it.
SHARED_STATE_ERRORS = (RedisError, OSError)
FINAL_EVENT_ATTEMPTS = 5
# The running streams' saves are spread over this many turns of each PRISM_PERSIST_MS.
PERSIST_TURNS = 10


def heartbeat_interval_s() -> float:
    """How often a running stream's heartbeat is saved: well within PRISM_STALE_AFTER_S, after which the
    sweeper takes the run for dead."""
    return max(1.0, min(10.0, settings.PRISM_STALE_AFTER_S / 3))


# --- a stream ------------------------------------------------------------------------------------------


class Relay:
    """One stream's text: what has been relayed (`text`, `reasoning`, numbered up to `seq`) and what waits
    for the publisher's next tick."""

    def __init__(self, node_id: str, canvas_id: str):
        self.node_id = node_id
        self.canvas_id = canvas_id
        self.seq = 0
        # Characters taken in, text and reasoning: an answer stops growing at PRISM_MAX_ANSWER_CHARS.
        self.size = 0
        self._room = settings.PRISM_MAX_ANSWER_CHARS
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._pending_text: list[str] = []
        self._pending_reasoning: list[str] = []
        self._pending_events: list[events.CanvasEvent] = []
        # The publisher's bookkeeping: the tick publishing this stream's last delta, and what is saved in
        # the database (the claim has just written the heartbeat).
        self.in_flight: asyncio.Future | None = None
        self.persisted_seq = 0
        self.saved_at = time.monotonic()
        self.persist_turn = 0  # which of the period's PERSIST_TURNS saves it
        # A stream lives on one loop, and so does that loop's publisher: looked up once, not per fragment.
        self._publisher = publisher()

    @property
    def text(self) -> str:
        return _joined(self._text)

    @property
    def reasoning(self) -> str:
        return _joined(self._reasoning)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending_text or self._pending_reasoning)

    def add(self, kind: str, fragment: str) -> None:
        # Model output is untrusted: a NUL or a lone surrogate taken in here would fail the live state,
        # the events and every save of the node, the final one included.
        fragment = clean_text(fragment)
        if not fragment:
            return
        if self.size + len(fragment) > self._room:
            fragment = fragment[: self._room - self.size]
            if not fragment:
                return
        self.size += len(fragment)
        (self._pending_text if kind == "text" else self._pending_reasoning).append(fragment)
        self._publisher.mark_dirty(self, at_once=self.seq == 0)

    @property
    def full(self) -> bool:
        """The answer has reached the most that is kept (PRISM_MAX_ANSWER_CHARS): nothing more is taken."""
        return self.size >= self._room

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


def _joined(parts: list[str]) -> str:
    # Kept joined: every save reads the whole text, and a long answer is a thousand deltas.
    if len(parts) > 1:
        parts[:] = ["".join(parts)]
    return parts[0] if parts else ""


# --- the loop's publisher ------------------------------------------------------------------------------

_publishers: PerLoop[Publisher] = PerLoop(lambda loop: Publisher())


def publisher() -> Publisher:
    """The running loop's publisher (a redis.asyncio client, like a stream, belongs to one loop)."""
    return _publishers.get()


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


class Publisher:
    """Every stream of one loop: their deltas relayed in batches (mark_dirty, then a tick), their partial
    text and heartbeats saved while they run (running, then persist)."""

    def __init__(self) -> None:
        # Insertion-ordered: a tick sends a canvas's deltas in the order their streams became dirty.
        self._dirty: dict[Relay, None] = {}
        # Resolved when the tick that takes the streams dirty now has published them.
        self._next_tick: asyncio.Future | None = None
        self._flusher: asyncio.Task | None = None
        self._wake: asyncio.Future | None = None
        self._hurry = False
        self._last_tick = float("-inf")
        self._redis_failing = False  # so an outage is logged once, not at every tick
        self._running: dict[Relay, None] = {}
        self._persister: asyncio.Task | None = None
        self._persist_wake: asyncio.Future | None = None
        self._next_turn = 0  # the turn the next registered stream is saved in

    # --- deltas ------------------------------------------------------------------------------------

    def mark_dirty(self, relay: Relay, *, at_once: bool = False) -> None:
        """`at_once`: publish with a tick now instead of at the end of the window (a stream's first
        text, which is its user's time to first token)."""
        if at_once:
            self._tick_now()
        if relay in self._dirty:
            return
        if not self._dirty:
            self._next_tick = asyncio.get_running_loop().create_future()
        self._dirty[relay] = None
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_while_dirty())

    async def drain(self, relay: Relay) -> None:
        """Return once everything the stream has added is in the live state and sent: a tick now if it
        has pending text, or the end of the tick that is publishing it."""
        if relay in self._dirty:
            waiting = self._next_tick
            self._tick_now()
        else:
            waiting = relay.in_flight
        if waiting is not None:
            # Shielded: a cancelled drain must not cancel the tick that every stream waits on.
            await asyncio.shield(waiting)

    def _tick_now(self) -> None:
        self._hurry = True
        if self._wake is not None:
            _resolve(self._wake)

    async def _flush_while_dirty(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._dirty:
                # At most one tick per window: the first fragment after a quiet spell goes at once,
                # fragments arriving meanwhile wait for the next tick and share it.
                delay = self._last_tick + settings.PRISM_FLUSH_MS / 1000 - loop.time()
                if delay > 0 and not self._hurry:
                    self._wake = loop.create_future()
                    timer = loop.call_later(delay, _resolve, self._wake)
                    try:
                        await self._wake
                    finally:
                        timer.cancel()
                        self._wake = None
                else:
                    await asyncio.sleep(0)  # let fragments of this very moment join the tick
                self._hurry = False
                self._last_tick = loop.time()
                await self._tick()
        finally:
            self._flusher = None
            if self._dirty:  # cancelled (the loop is closing): nobody will publish these
                self._dirty.clear()
                _resolve(self._next_tick)

    async def _tick(self) -> None:
        done, self._next_tick = self._next_tick, None
        relays, self._dirty = list(self._dirty), {}
        try:
            sends = []
            for relay in relays:
                relay.in_flight = done
                sends.append((relay, relay.take_events(), relay.take() if relay.has_pending else None))
            await self._publish(sends)
        except Exception:
            log.exception("Publishing %s streams' deltas failed", len(relays))
        finally:
            _resolve(done)

    async def _publish(self, sends: list[tuple[Relay, list[events.CanvasEvent], events.NodeDelta | None]]) -> None:
        live = live_store()
        with_delta = [(relay, delta) for relay, _, delta in sends if delta is not None]
        by_canvas: dict[str, list[events.CanvasEvent]] = {}
        for relay, stream_events, delta in sends:
            batch = by_canvas.setdefault(relay.canvas_id, [])
            batch.extend(stream_events)
            if delta is not None:
                batch.append(delta)
        try:
            # Live state first, then the events: a client that joins in between reads it from the snapshot.
            # With Redis both go in one round trip: the batches are published after the appends, and only
            # if every append applied.
            publishes = sender.encoded_batches(by_canvas) if with_delta else None
            applied = await live.append_many(
                [Append(d["node"], d["seq"], d["text"], d["reasoning"]) for _, d in with_delta], publishes or ()
            )
            # Out of step: the store lost a write or its state (Redis restarted); put back the whole text.
            lost = {
                r.node_id: LiveState(r.text, r.reasoning, r.seq)
                for (r, _), ok in zip(with_delta, applied, strict=True)
                if not ok
            }
            if lost:
                await live.replace_many(lost)
        except SHARED_STATE_ERRORS as exc:
            # The text stays in the streams and goes on being saved; the next tick repairs the live state
            # (its appends are out of step), and browsers that miss these deltas see a gap in seq and
            # resynchronise from the snapshot.
            self._failing(exc)
            return
        if publishes is None or lost:
            try:
                await sender.send_batches(by_canvas)
            except SHARED_STATE_ERRORS as exc:
                self._failing(exc)
                return
        if self._redis_failing:
            log.warning("Streams reach Redis again")
        self._redis_failing = False

    def _failing(self, exc: BaseException) -> None:
        if not self._redis_failing:
            log.warning("Streams go on without Redis for now (%s)", exc)
        self._redis_failing = True

    # --- partial text and heartbeats ------------------------------------------------------------------

    @asynccontextmanager
    async def running(self, relay: Relay) -> AsyncIterator[None]:
        """Keep a run's partial text saved and its heartbeat fresh for as long as it lives, waiting for
        a provider slot or a retry included."""
        self._running[relay] = None
        relay.persist_turn, self._next_turn = self._next_turn, (self._next_turn + 1) % PERSIST_TURNS
        if self._persister is None:
            self._persister = asyncio.get_running_loop().create_task(self._persist_while_running())
        try:
            yield
        finally:
            self._running.pop(relay, None)
            if not self._running and self._persist_wake is not None:
                _resolve(self._persist_wake)  # nothing left to save: the persister ends now, not later

    async def _persist_while_running(self) -> None:
        loop = asyncio.get_running_loop()
        turn = 0
        try:
            while self._running:
                self._persist_wake = loop.create_future()
                timer = loop.call_later(settings.PRISM_PERSIST_MS / 1000 / PERSIST_TURNS, _resolve, self._persist_wake)
                try:
                    await self._persist_wake
                finally:
                    timer.cancel()
                    self._persist_wake = None
                await self.persist(turn)
                turn = (turn + 1) % PERSIST_TURNS
        finally:
            self._persister = None

    async def persist(self, turn: int) -> None:
        """Save, in one statement, every running stream of this turn that advanced or whose heartbeat is
        due."""
        now = time.monotonic()
        # Half a period early rather than a whole period late, as the persister's sleeps drift.
        due_before = now - heartbeat_interval_s() + settings.PRISM_PERSIST_MS / 2000
        relays = [
            r for r in self._running if r.persist_turn == turn and (r.seq > r.persisted_seq or r.saved_at <= due_before)
        ]
        if not relays:
            return
        partials = [store.Partial(r.node_id, r.text, r.reasoning, r.seq) for r in relays]
        try:
            await in_db_thread(store.save_partials, partials)
        except Exception as exc:  # noqa: BLE001 - saved at the next period; the streams go on
            log.warning("Partial text of %s streams not saved (%s)", len(partials), exc)
            return
        for relay, partial in zip(relays, partials, strict=True):
            relay.persisted_seq, relay.saved_at = partial.seq, now


# --- the end of a stream -------------------------------------------------------------------------------


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
