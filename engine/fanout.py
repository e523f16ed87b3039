"""Canvas events published straight to Redis, as the channel layer's group_send would, at less cost.

channels_redis's pub/sub layer sends each group message under one lock per process, one round trip
after another, so at a hundred canvases a publisher tick spent most of its time waiting on Redis in
turn. With that layer (on one Redis, as configured), every canvas's batch is serialised by the layer
itself and all are published in one pipeline, to the very channels its group_send would use. A request
thread publishes its events the same way, with a plain Redis client. Any other layer (the in-memory one
of the embedded mode) gets its group_send.
"""

from __future__ import annotations

import asyncio

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings

from engine import events
from engine.redis_clients import loop_client, thread_client


async def send_batches(batches: dict[str, list[events.CanvasEvent]]) -> None:
    """Each canvas's events as one batch message to its group; raises what Redis raises."""
    if not batches:
        return
    layer = get_channel_layer()
    if not _publishes_directly(layer):
        await asyncio.gather(*(events.send_batch(canvas_id, payloads) for canvas_id, payloads in batches.items()))
        return
    async with loop_client(settings.REDIS_URL).pipeline(transaction=False) as pipe:
        for canvas_id, payloads in batches.items():
            pipe.publish(group_channel(canvas_id), _batch(layer, payloads))
        await pipe.execute()


def send_batch_from_thread(canvas_id: str, payloads: list[events.CanvasEvent]) -> None:
    """One canvas's events, from a request's thread: published straight to Redis, without the hop to
    the event loop that async_to_sync makes (under load the loop is busy relaying, and the request's
    answer, and its runs, waited for it)."""
    layer = get_channel_layer()
    if not _publishes_directly(layer):
        async_to_sync(events.send_batch)(canvas_id, payloads)
        return
    thread_client(settings.REDIS_URL).publish(group_channel(canvas_id), _batch(layer, payloads))


def _publishes_directly(layer) -> bool:
    """Whether the layer is channels_redis's pub/sub layer on one Redis (ours, as configured)."""
    hosts = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts") or ()
    return isinstance(layer, RedisPubSubChannelLayer) and bool(settings.REDIS_URL) and len(hosts) == 1


def group_channel(canvas_id: str) -> str:
    """The Redis channel the pub/sub layer's group_send publishes a canvas's events to.

    Made from the settings, not asked of the layer, whose attributes need a running event loop. The name
    is channels_redis 4.x's (RedisPubSubLoopLayer._get_group_channel_name); tests/test_fanout.py checks
    that the two agree."""
    prefix = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "asgi")
    return f"{prefix}__group__{events.group_name(canvas_id)}"


def _batch(layer: RedisPubSubChannelLayer, payloads: list[events.CanvasEvent]) -> bytes:
    return layer.serialize({"type": events.BATCH_HANDLER, "payloads": payloads})
