"""The state of a canvas's running responses for a client that joins mid-stream."""

from __future__ import annotations

from channels.db import database_sync_to_async

from canvas.models import RUNNING_STATUSES, Node
from engine import events
from engine.live import live_store
from engine.payloads import nodes_payload


def overlay_live(payload: dict, live) -> dict:
    """The node as stored, with the newer text of its live state if the database lags behind."""
    if live is not None and live.seq >= (payload.get("seq") or 0):
        return {**payload, "text": live.text, "reasoning": live.reasoning, "seq": live.seq}
    return payload


@database_sync_to_async
def _running_payloads(canvas_id) -> list[dict]:
    return nodes_payload(list(Node.objects.filter(canvas_id=canvas_id, status__in=RUNNING_STATUSES)))


async def snapshots(canvas_id) -> list[events.NodeSnapshot]:
    store = live_store()
    result = []
    for payload in await _running_payloads(canvas_id):
        live = await store.read(payload["id"])
        result.append(events.NodeSnapshot(type="node.snapshot", node=overlay_live(payload, live)))
    return result


def with_live_text(payloads: list[dict]) -> list[dict]:
    """For pages rendered mid-stream: what has arrived so far, not only what was last saved."""
    store = live_store()
    return [overlay_live(p, store.read_sync(p["id"])) if p.get("status") in RUNNING_STATUSES else p for p in payloads]
