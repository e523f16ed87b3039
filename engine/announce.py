"""Tell everyone on a canvas about nodes created or changed by a request (after it commits)."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.db import transaction

from canvas.payloads import nodes_payload
from engine import events


def announce(nodes: list, kind: str = "node.created") -> None:
    if not nodes:
        return
    canvas_id = nodes[0].canvas_id
    payloads = nodes_payload(nodes)

    def send() -> None:
        for payload in payloads:
            async_to_sync(events.send)(canvas_id, {"type": kind, "node": payload})

    transaction.on_commit(send)
