"""A publisher tick's events for many canvases, sent in one round trip to Redis.

channels_redis's pub/sub layer sends each group message under one lock per process, one round trip
after another, so at a hundred canvases a tick spent most of its time waiting on Redis in turn. With that
layer (on one Redis, as configured), every canvas's batch is serialised by the layer itself and all are
published in one pipeline, to the very channels its group_send would use. Any other layer (the in-memory
one of the embedded mode) gets one group_send per canvas.
"""

from __future__ import annotations

import asyncio

from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings

from engine import events
from engine.live import loop_client


async def send_batches(batches: dict[str, list[events.CanvasEvent]]) -> None:
    """Each canvas's events as one batch message to its group; raises what Redis raises."""
    if not batches:
        return
    layer = get_channel_layer()
    shards = getattr(layer, "_shards", ()) if isinstance(layer, RedisPubSubChannelLayer) else ()
    if len(shards) != 1 or not settings.REDIS_URL:
        await asyncio.gather(*(events.send_batch(canvas_id, payloads) for canvas_id, payloads in batches.items()))
        return
    async with loop_client(settings.REDIS_URL).pipeline(transaction=False) as pipe:
        for canvas_id, payloads in batches.items():
            channel = layer._get_group_channel_name(events.group_name(canvas_id))
            pipe.publish(channel, layer.serialize({"type": events.BATCH_HANDLER, "payloads": payloads}))
        await pipe.execute()
