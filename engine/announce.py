"""Tell everyone on a canvas about nodes created or changed by a request (after it commits)."""

from __future__ import annotations

from typing import Literal

from engine import events, sender
from engine.payloads import nodes_payload

_EVENTS = {"node.created": events.NodeCreated, "node.updated": events.NodeUpdated}


def announce(
    nodes: list, kind: Literal["node.created", "node.updated"] = "node.created", payloads: list[dict] | None = None
) -> None:
    """`payloads`: the nodes' payloads when the caller has them already."""
    if not nodes:
        return
    canvas_id = nodes[0].canvas_id
    event = _EVENTS[kind]
    batch = [event(type=kind, node=payload) for payload in (payloads or nodes_payload(nodes))]
    # One group message for all of them: a request thread's every hop to the event loop and to Redis
    # holds up its answer.
    sender.send_on_commit(canvas_id, batch)


def announce_deleted(canvas_id, node_ids: list[str]) -> None:
    """Nodes deleted by a request: every page on the canvas removes them."""
    if not node_ids:
        return
    sender.send_on_commit(canvas_id, [events.NodeDeleted(type="node.deleted", node=node_id) for node_id in node_ids])
