"""Stopping a running response from any process.

Each process keeps its own running streams by node id. A cancel request is published on Redis (or
handled in place in the embedded mode); the process that holds the stream cancels its task, which
closes the provider connection at once — a self-hosted vLLM frees the slot.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import contextmanager

import redis.asyncio as aioredis
from django.conf import settings

log = logging.getLogger(__name__)

CHANNEL = "prism:cancel"
_running: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Task]] = {}
_listeners: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


@contextmanager
def registered(node_id: str):
    loop = asyncio.get_running_loop()
    _running[node_id] = (loop, asyncio.current_task())
    if settings.REDIS_URL and loop not in _listeners:
        _listeners[loop] = loop.create_task(_listen())
    try:
        yield
    finally:
        _running.pop(node_id, None)


def cancel_local(node_id: str) -> bool:
    entry = _running.get(node_id)
    if entry is None:
        return False
    loop, task = entry
    loop.call_soon_threadsafe(task.cancel)
    return True


async def request_cancel(node_id: str) -> None:
    if settings.REDIS_URL:
        client = aioredis.Redis.from_url(settings.REDIS_URL)
        try:
            await client.publish(CHANNEL, node_id)
        finally:
            await client.aclose()
    else:
        cancel_local(node_id)


async def _listen() -> None:
    while True:
        client = aioredis.Redis.from_url(settings.REDIS_URL)
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
