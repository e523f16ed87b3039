"""Stopping runs on a user's request: one response, or a prompt's whole fan-out.

A queued response has no stream yet: it is cancelled in the database, on the condition that it is still
queued, so a run claiming it at the same moment either wins (and is then stopped like any stream) or
finds it cancelled and never starts. A streaming response is stopped by the process that holds its
stream (engine.cancellation); that run ends it `cancelled`, keeps its partial text and sends node.done.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.utils import timezone

from canvas.models import RUNNING_STATUSES, Node, NodeKind, NodeStatus
from engine import cancellation, events, sender
from engine.payloads import node_payload


def cancel(node: Node) -> list[str]:
    """Stop a response, or every running response of a prompt; the ids of those being stopped."""
    if node.kind == NodeKind.PROMPT:
        return cancel_fanout(node)
    return [str(node.id)] if cancel_response(node) else []


def cancel_response(node: Node) -> bool:
    """Stop `node` if it is a running response; False when there is nothing to stop."""
    if node.kind != NodeKind.RESPONSE:
        return False
    if _cancel_queued(node):
        return True
    node.refresh_from_db()
    if node.status != NodeStatus.STREAMING:
        return False
    async_to_sync(cancellation.request_cancel)(str(node.id))
    return True


def cancel_fanout(prompt: Node) -> list[str]:
    """Stop every running response of `prompt`; the ids of those being stopped."""
    running = Node.objects.filter(parent_edges__parent=prompt, kind=NodeKind.RESPONSE, status__in=RUNNING_STATUSES)
    return [str(node.id) for node in running.order_by("created_at") if cancel_response(node)]


def _cancel_queued(node: Node) -> bool:
    cancelled = Node.objects.filter(id=node.id, status=NodeStatus.QUEUED).update(
        status=NodeStatus.CANCELLED, finished_at=timezone.now()
    )
    if not cancelled:
        return False
    node.refresh_from_db()
    sender.send_on_commit(node.canvas_id, [events.NodeDone(type="node.done", node=node_payload(node))])
    return True
