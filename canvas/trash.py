"""Deleting: canvases (restorable for RESTORE_DAYS, then purged for good) and nodes (a prompt with its answers).

What a deleted answer cost keeps counting. Usage reports and budgets read each answer's figures from its
row, by the team it was billed to (`Node.billed_team`), never through its canvas; so an answer that was
billed is never deleted but detached: its canvas set to null, its text, reasoning and error emptied, its
edges, comments and votes removed, its figures (model, author, status, tokens, cost, speed, times) kept.
Answers billed to no team (imported or duplicated copies) and prompts and notes are deleted outright.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from canvas import membership, quotas
from canvas.errors import ApiError
from canvas.models import RESTORE_DAYS, RUNNING_STATUSES, Canvas, Comment, Edge, Node, NodeKind, NodeStatus, Vote
from engine import control

log = logging.getLogger(__name__)


def delete_canvas(canvas: Canvas) -> None:
    """Gone for everyone at once (open sockets are told to check again and close); its runs are stopped."""
    running = Node.objects.filter(canvas_id__in=_going_with(canvas), kind=NodeKind.RESPONSE)
    for response in running.filter(status__in=RUNNING_STATUSES):
        control.cancel_response(response)
    canvas.deleted_at = timezone.now()
    canvas.save(update_fields=["deleted_at"])  # a save, not an update: the leaderboard's cache hears of it
    membership.notify_recheck([canvas.pk])


def restore_canvas(canvas: Canvas) -> Canvas:
    """Back where it was, as it was; it counts against its maker's canvas quota again."""
    if canvas.created_by is not None:
        quotas.check_canvas(canvas.created_by)
    canvas.deleted_at = None
    canvas.save(update_fields=["deleted_at"])
    return canvas


def purge_deleted(now=None) -> int:
    """Delete for good every canvas deleted more than RESTORE_DAYS ago; how many went."""
    cutoff = (now or timezone.now()) - timedelta(days=RESTORE_DAYS)
    purged = 0
    for canvas_id in Canvas.objects.filter(deleted_at__lt=cutoff).values_list("pk", flat=True):
        with transaction.atomic():
            canvas = Canvas.objects.select_for_update().filter(pk=canvas_id, deleted_at__lt=cutoff).first()
            if canvas is None:  # restored meanwhile
                continue
            _remove(Node.objects.filter(canvas_id__in=_going_with(canvas)))
            canvas.delete()
            purged += 1
    if purged:
        log.info("Purged %d canvases deleted over %d days ago", purged, RESTORE_DAYS)
    return purged


def _going_with(canvas: Canvas) -> list:
    """The canvas's id and those of the canvases that its deletion takes with it (any canvas that points
    to it with a cascading key, such as a hidden workspace of its own): their answers' figures are kept too."""
    ids = [canvas.pk]
    for relation in Canvas._meta.related_objects:
        if relation.related_model is Canvas and relation.on_delete is models.CASCADE:
            ids += Canvas._base_manager.filter(**{relation.field.name: canvas}).values_list("pk", flat=True)
    return ids


@transaction.atomic
def delete_node(node: Node) -> list[str]:
    """A note, an answer, or a prompt with its answers; the ids removed. Refused (409) while any of
    them runs: stop it first."""
    doomed = [node]
    if node.kind == NodeKind.PROMPT:
        doomed += list(Node.objects.filter(parent_edges__parent=node, kind=NodeKind.RESPONSE))
    if any(n.kind == NodeKind.RESPONSE and n.status in RUNNING_STATUSES for n in doomed):
        raise ApiError(409, "running", "It is still running: stop it first, then delete it.")
    ids = [n.pk for n in doomed]
    _remove(Node.objects.filter(pk__in=ids))
    if node.canvas_id is not None:
        Canvas.objects.filter(pk=node.canvas_id).update(updated_at=timezone.now())
    return [str(pk) for pk in ids]


def _remove(nodes) -> None:
    """Delete these nodes, keeping the figures of billed answers (detached: see the module's note)."""
    ids = list(nodes.values_list("pk", flat=True))
    billed = Q(pk__in=ids, kind=NodeKind.RESPONSE, billed_team__isnull=False)
    kept = list(Node.objects.filter(billed).values_list("pk", flat=True))
    Vote.objects.filter(Q(prompt_id__in=ids) | Q(a_id__in=kept) | Q(b_id__in=kept)).delete()
    Comment.objects.filter(node_id__in=kept).delete()
    Edge.objects.filter(Q(parent_id__in=kept) | Q(child_id__in=kept)).delete()
    Node.objects.filter(pk__in=kept, status__in=RUNNING_STATUSES).update(status=NodeStatus.INTERRUPTED)
    Node.objects.filter(pk__in=kept).update(canvas=None, text="", reasoning="", error_message="")
    Node.objects.filter(pk__in=ids).exclude(pk__in=kept).delete()
