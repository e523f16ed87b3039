"""Stopping a running response from any process.

Each process keeps its own running streams by node id. A cancel request is published on Redis (or
handled in place in the embedded mode); the process that holds the stream cancels its task, which
closes the provider connection at once — a self-hosted vLLM frees the slot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager

from django.conf import settings

from engine.loops import PerLoop
from engine.redis_clients import loop_client, redis_async

log = logging.getLogger(__name__)

CHANNEL = "prism:cancel"
# A cancel can arrive after a run has claimed its node but before it has registered here; it is
# remembered this long, and the run cancels itself as it registers.
REMEMBER_S = 60
_running: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Task]] = {}
_listeners: PerLoop[asyncio.Task] = PerLoop(lambda loop: loop.create_task(_listen()))
_requested: dict[str, float] = {}  # embedded mode: node id → when its cancel was asked for


def _remembered_key(node_id: str) -> str:
    return f"prism:cancelled:{node_id}"


@asynccontextmanager
async def registered(node_id: str):
    """Cancels reach the current task from here on. A cancel asked for before this registration was
    remembered. In the embedded mode that is known at once, and the run stops before calling anyone;
    with Redis, reading it is a round trip that the run does not wait for: a remembered cancel stops
    the run wherever it then is (waiting for a slot, or with the provider's request just sent, which
    is closed at once)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    _running[node_id] = (loop, task)
    if not settings.REDIS_URL:
        if time.monotonic() - _requested.pop(node_id, float("-inf")) < REMEMBER_S:
            task.cancel()
    else:
        _listeners.get()  # this loop's listener, started with its first run
        _remembered.get().look_up(node_id, task)
    try:
        yield
    finally:
        _running.pop(node_id, None)


class RememberedCancels:
    """One loop's reads of remembered cancels: the runs that register in the same turn of the loop (a
    burst's, a fan-out's) are looked up together, in one MGET, instead of a command each, which in a
    burst of a hundred runs also opened dozens of Redis connections at once."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._waiting: dict[str, asyncio.Task] = {}
        self._reader: asyncio.Task | None = None

    def look_up(self, node_id: str, task: asyncio.Task) -> None:
        self._waiting[node_id] = task
        if self._reader is None:
            self._reader = self._loop.create_task(self._read_while_waiting())

    async def _read_while_waiting(self) -> None:
        try:
            while self._waiting:
                await asyncio.sleep(0)  # runs registering in this same turn join the read
                batch, self._waiting = self._waiting, {}
                try:
                    remembered = await _client().mget([_remembered_key(node_id) for node_id in batch])
                except Exception as exc:  # noqa: BLE001 - without Redis the published cancel still reaches the run
                    log.warning("Could not read remembered cancels (%s)", exc)
                    continue
                for (node_id, task), value in zip(batch.items(), remembered, strict=True):
                    # A run that has ended meanwhile is left alone (its node id may run again later).
                    if value is not None and _running.get(node_id, (None, None))[1] is task:
                        task.cancel()
        finally:
            self._reader = None


_remembered: PerLoop[RememberedCancels] = PerLoop(RememberedCancels)


def _client():
    return loop_client(settings.REDIS_URL)


def cancel_local(node_id: str) -> bool:
    entry = _running.get(node_id)
    if entry is None:
        return False
    loop, task = entry
    loop.call_soon_threadsafe(task.cancel)
    return True


async def request_cancel(node_id: str) -> None:
    if settings.REDIS_URL:
        client = redis_async(settings.REDIS_URL)
        try:
            await client.set(_remembered_key(node_id), 1, ex=REMEMBER_S)
            await client.publish(CHANNEL, node_id)
        finally:
            await client.aclose()
    elif not cancel_local(node_id):
        _requested[node_id] = time.monotonic()


async def _listen() -> None:
    while True:
        client = redis_async(settings.REDIS_URL)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(CHANNEL)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        cancel_local(message["data"].decode())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - Redis restarting must not end cancellation for good
            log.warning("Cancel listener lost Redis (%s); reconnecting", exc)
            await asyncio.sleep(1)
        finally:
            await client.aclose()
