"""Tell everyone on a canvas about nodes created or changed by a request (after it commits)."""

from __future__ import annotations

from django.db import transaction

from canvas.payloads import nodes_payload
from engine.events import NodeDeleted
from engine.fanout import send_batch_from_thread


def announce(nodes: list, kind: str = "node.created", payloads: list[dict] | None = None) -> None:
    """`payloads`: the nodes' payloads when the caller has them already."""
    if not nodes:
        return
    canvas_id = nodes[0].canvas_id
    batch = [{"type": kind, "node": payload} for payload in (payloads or nodes_payload(nodes))]
    # One group message for all of them: a request thread's every hop to the event loop and to Redis
    # holds up its answer.
    transaction.on_commit(lambda: send_batch_from_thread(canvas_id, batch))


def announce_deleted(canvas_id, node_ids: list[str]) -> None:
    """Nodes deleted by a request: every page on the canvas removes them."""
    if not node_ids:
        return
    batch = [NodeDeleted(type="node.deleted", node=node_id) for node_id in node_ids]
    transaction.on_commit(lambda: send_batch_from_thread(canvas_id, batch))
