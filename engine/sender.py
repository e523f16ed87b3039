"""The one sender: every message to a canvas's sockets (or to a person's) reaches the channel layer here.

Two kinds of message go to a group. Canvas events (engine.events) are for the browser: one event
("canvas.event"), or several in one message ("canvas.batch", which the consumer sends on as one
WebSocket message, a JSON array of the events in order). A batch's deltas travel already encoded as the
JSON the browser gets: they carry only text, the same for every viewer, so each is encoded once here
instead of once per socket; every other event is a dict the consumer redacts for its viewer. Notices
("access.recheck", "presence.changed", "auth.recheck") are for the sockets themselves: each consumer
handles them and the browser never sees them.

How they travel, and why. channels_redis's pub/sub layer sends each group message under one lock per
process, one round trip after another, so at a hundred canvases a publisher tick spent most of its time
waiting on Redis in turn. With that layer (on one Redis, as configured), a tick's batches are
serialised by the layer itself and all published in one pipeline (`send_batches`), to the very channels
its group_send would use; a request thread publishes the same way with the process's plain Redis client
(`send_from_thread`, `notify_from_thread`), without the hop to the event loop that async_to_sync makes
(under load the loop is busy relaying, and the request's answer, and its runs, waited for it), and a
single message from a loop (a run's closing event, a comment, a notice) with the loop's client, not
queued behind the layer's lock (a hundred runs ending together waited on each other's round trips).
Any other layer (the in-memory one of the embedded mode) gets its group_send.
"""

from __future__ import annotations

import asyncio
import json

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.db import transaction

from engine.events import CanvasEvent
from engine.redis_clients import loop_client, thread_client

# The consumer's handler for every canvas event (Channels maps "canvas.event" to `canvas_event`).
HANDLER = "canvas.event"
# Its handler for several events in one group message, sent in order ("canvas.batch" → `canvas_batch`).
BATCH_HANDLER = "canvas.batch"


def canvas_group(canvas_id) -> str:
    """The group of every socket open on a canvas."""
    return f"canvas.{canvas_id}"


def person_group(user_id) -> str:
    """The group of every socket a person has open (canvas.consumers joins it)."""
    return f"prism.user.{user_id}"


# --- canvas events -----------------------------------------------------------------------------------


async def send(canvas_id, event: CanvasEvent) -> None:
    """One event to a canvas, from an event loop; raises what the channel layer raises."""
    await _group_send(canvas_group(canvas_id), {"type": HANDLER, "payload": event})


async def send_batches(batches: dict[str, list[CanvasEvent]]) -> None:
    """Each canvas's events as one batch message to its group, all in one round trip where the layer
    allows; raises what Redis raises."""
    if not batches:
        return
    encoded = encoded_batches(batches)
    if encoded is None:
        layer = get_channel_layer()
        await asyncio.gather(
            *(layer.group_send(canvas_group(canvas_id), _batch(events)) for canvas_id, events in batches.items())
        )
        return
    async with loop_client(settings.REDIS_URL).pipeline(transaction=False) as pipe:
        for channel, message in encoded:
            pipe.publish(channel, message)
        await pipe.execute()


def encoded_batches(batches: dict[str, list[CanvasEvent]]) -> list[tuple[str, bytes]] | None:
    """Each canvas's batch as the Redis channel and message that send_batches publishes, for a caller
    that publishes them with other commands in one round trip (the publisher's tick, with its live-state
    appends: engine.live); None where the layer does not publish directly (the embedded mode)."""
    layer = get_channel_layer()
    if not _publishes_directly(layer):
        return None
    return [
        (group_channel(canvas_group(canvas_id)), layer.serialize(_batch(events)))
        for canvas_id, events in batches.items()
    ]


def send_from_thread(canvas_id, events: list[CanvasEvent]) -> None:
    """A canvas's events in one message, from a thread (a request's, the sweeper's)."""
    _group_send_from_thread(canvas_group(canvas_id), _batch(events))


def send_on_commit(canvas_id, events: list[CanvasEvent]) -> None:
    """From a request: the events go out once its transaction has committed (or at once outside one)."""
    transaction.on_commit(lambda: send_from_thread(canvas_id, events))


def _batch(events: list[CanvasEvent]) -> dict:
    return {"type": BATCH_HANDLER, "payloads": [_encoded(e) if e["type"] == "node.delta" else e for e in events]}


# One encoder made once: json.dumps with options other than its defaults builds a new one per call, which
# cost more than the encoding of a delta itself.
_encoded = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def events_in(message: dict) -> list[CanvasEvent]:
    """The canvas events a group message carries, in order, as dicts (what a browser decodes)."""
    if message["type"] == HANDLER:
        return [message["payload"]]
    return [json.loads(p) if isinstance(p, str) else p for p in message["payloads"]]


# --- notices to the sockets ------------------------------------------------------------------------------


async def notify(group: str, notice: dict) -> None:
    """A notice (`{"type": <the consumer's handler>, ...}`) to every socket of a group, from a loop."""
    await _group_send(group, notice)


def notify_from_thread(groups: list[str], notice: dict) -> None:
    """The same notice to each of these groups, from a thread."""
    for group in groups:
        _group_send_from_thread(group, notice)


# --- the channel layer ---------------------------------------------------------------------------------


async def _group_send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if _publishes_directly(layer):
        await loop_client(settings.REDIS_URL).publish(group_channel(group), layer.serialize(message))
    else:
        await layer.group_send(group, message)


def _group_send_from_thread(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if _publishes_directly(layer):
        thread_client(settings.REDIS_URL).publish(group_channel(group), layer.serialize(message))
    else:
        async_to_sync(layer.group_send)(group, message)


def _publishes_directly(layer) -> bool:
    """Whether the layer is channels_redis's pub/sub layer on one Redis (ours, as configured)."""
    hosts = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts") or ()
    return isinstance(layer, RedisPubSubChannelLayer) and bool(settings.REDIS_URL) and len(hosts) == 1


def group_channel(group: str) -> str:
    """The Redis channel the pub/sub layer's group_send publishes a group's messages to.

    Made from the settings, not asked of the layer, whose attributes need a running event loop. The name
    is channels_redis 4.x's (RedisPubSubLoopLayer._get_group_channel_name); tests/test_fanout.py checks
    that the two agree."""
    prefix = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "asgi")
    return f"{prefix}__group__{group}"
