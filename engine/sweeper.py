"""Every response reaches an end: runs whose process died are marked interrupted, text kept."""

from __future__ import annotations

import logging
from datetime import timedelta

from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import timezone

from canvas.models import Node, NodeStatus
from canvas.payloads import node_payload
from engine import events
from engine.live import live_store

log = logging.getLogger(__name__)


def sweep_stale_runs(stale_after_s: float | None = None) -> int:
    """Mark streaming responses with no heartbeat for `stale_after_s` as interrupted."""
    limit = settings.PRISM_STALE_AFTER_S if stale_after_s is None else stale_after_s
    cutoff = timezone.now() - timedelta(seconds=limit)
    stale = Node.objects.filter(status=NodeStatus.STREAMING, heartbeat_at__lt=cutoff)
    count = 0
    for node in stale:
        if interrupt(node):
            count += 1
    return count


def interrupt(node: Node) -> bool:
    live = live_store().read_sync(str(node.id))
    fields = {
        "status": NodeStatus.INTERRUPTED,
        "error_code": "interrupted",
        "error_message": "The run stopped before the model finished (its worker went away).",
        "finished_at": timezone.now(),
    }
    if live is not None and live.seq > node.seq:
        fields.update(text=live.text, reasoning=live.reasoning, seq=live.seq)
    # Conditional, so a run that finishes meanwhile keeps its own ending.
    if not Node.objects.filter(id=node.id, status=NodeStatus.STREAMING).update(**fields):
        return False
    node.refresh_from_db()
    log.warning("Response %s interrupted at seq %s", node.id, node.seq)
    async_to_sync(events.send)(node.canvas_id, events.NodeDone(type="node.done", node=node_payload(node)))
    async_to_sync(live_store().clear)(str(node.id))
    return True
