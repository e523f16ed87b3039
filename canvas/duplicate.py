"""A copy of a canvas: every node under a new id, same texts, same places, same graph; settings and tags too.

Copied answers are billed to no team (like imported ones): what they cost was counted once, where they
ran. Votes and comments stay with the original: they are people's judgements of that canvas. A copy of
an answer still running ends as interrupted: nothing will ever run it on the copy.
"""

from __future__ import annotations

from django.db import transaction

from canvas import quotas
from canvas.models import RUNNING_STATUSES, Canvas, Edge, Node, NodeStatus

# Everything a node's copy takes from the original, besides what is set here.
_NOT_COPIED = {"id", "canvas", "billed_team", "heartbeat_at", "attempts"}
_COPIED = [f.attname for f in Node._meta.concrete_fields if f.name not in _NOT_COPIED]
COPY_SUFFIX = " (copy)"


def copy_title(title: str) -> str:
    return title[: Canvas._meta.get_field("title").max_length - len(COPY_SUFFIX)] + COPY_SUFFIX


@transaction.atomic
def duplicate_canvas(canvas: Canvas, user) -> Canvas:
    """A new canvas in the same team, made by `user` (it counts against their canvas quota)."""
    quotas.check_canvas(user)
    copy = Canvas.objects.create(
        team_id=canvas.team_id,
        title=copy_title(canvas.title),
        system_prompt=canvas.system_prompt,
        blind=canvas.blind,
        tags=list(canvas.tags),
        created_by=user,
    )
    originals = list(Node.objects.filter(canvas=canvas).values("id", *_COPIED))
    new_ids = {}
    rows = []
    for original in originals:
        node = Node(canvas=copy, **{name: original[name] for name in _COPIED})
        if node.status in RUNNING_STATUSES:
            node.status = NodeStatus.INTERRUPTED
            node.error_code = node.error_code or "interrupted"
            node.error_message = node.error_message or "The run had not finished when the canvas was copied."
        new_ids[original["id"]] = node.id
        rows.append(node)
    Node.objects.bulk_create(rows, batch_size=1000)
    edges = Edge.objects.filter(child__canvas=canvas).values_list("parent_id", "child_id", "position")
    Edge.objects.bulk_create(
        [Edge(parent_id=new_ids[p], child_id=new_ids[c], position=pos) for p, c, pos in edges], batch_size=1000
    )
    return copy
