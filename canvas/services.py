"""Changes to a canvas that several entry points share (pages, API)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from canvas.errors import invalid
from canvas.models import Canvas, Edge, Node, NodeKind, NodeStatus
from providers.models import Model

RESPONSE_W, RESPONSE_H, GAP = 360.0, 260.0, 40.0


def usable_models(model_ids: list) -> list[Model]:
    """The models asked for, in order, repeats kept; any unknown or disabled id is an error."""
    if not model_ids:
        raise invalid("Choose at least one model.")
    if len(model_ids) > settings.PRISM_MAX_MODELS_PER_PROMPT:
        raise invalid(f"At most {settings.PRISM_MAX_MODELS_PER_PROMPT} models per prompt.")
    found = {str(m.id): m for m in Model.objects.usable().filter(id__in=_valid_uuids(model_ids))}
    missing = [str(model_id) for model_id in model_ids if str(model_id) not in found]
    if missing:
        raise invalid(f"Unknown or disabled model: {missing[0]}")
    return [found[str(model_id)] for model_id in model_ids]


def _valid_uuids(values: list) -> list[str]:
    import uuid

    valid = []
    for value in values:
        try:
            valid.append(str(uuid.UUID(str(value))))
        except ValueError:
            continue
    return valid


def parent_nodes(canvas: Canvas, parent_ids: list) -> list[Node]:
    found = {str(n.id): n for n in canvas.nodes.filter(id__in=_valid_uuids(parent_ids))}
    missing = [str(p) for p in parent_ids if str(p) not in found]
    if missing:
        raise invalid(f"No node {missing[0]} on this canvas.")
    return [found[str(p)] for p in dict.fromkeys(str(p) for p in parent_ids)]


def _below(parents: list[Node], canvas: Canvas) -> tuple[float, float]:
    if parents:
        return parents[0].x, max(p.y + p.h for p in parents) + 60
    lowest = canvas.nodes.order_by("-y").first()
    return 0.0, (lowest.y + lowest.h + 120) if lowest else 0.0


@transaction.atomic
def create_prompt(
    canvas: Canvas,
    user,
    text: str,
    models: list[Model],
    parents: list[Node],
    x: float | None = None,
    y: float | None = None,
) -> tuple[Node, list[Node]]:
    if not text.strip():
        raise invalid("The prompt is empty.")
    default_x, default_y = _below(parents, canvas)
    total_w = len(models) * RESPONSE_W + (len(models) - 1) * GAP
    # Leave room for the whole fan-out right of the origin: a node at a negative x cannot be scrolled to.
    default_x = max(default_x, (total_w - RESPONSE_W) / 2)
    prompt = Node.objects.create(
        canvas=canvas,
        kind=NodeKind.PROMPT,
        text=text,
        created_by=user,
        x=default_x if x is None else x,
        y=default_y if y is None else y,
        w=RESPONSE_W,
        h=140,
    )
    _link(parents, prompt)
    left = prompt.x + prompt.w / 2 - total_w / 2
    responses = [
        Node.objects.create(
            canvas=canvas,
            kind=NodeKind.RESPONSE,
            model=model,
            status=NodeStatus.QUEUED,
            created_by=user,
            x=left + i * (RESPONSE_W + GAP),
            y=prompt.y + prompt.h + 60,
            w=RESPONSE_W,
            h=RESPONSE_H,
        )
        for i, model in enumerate(models)
    ]
    Edge.objects.bulk_create([Edge(parent=prompt, child=r) for r in responses])
    canvas.save(update_fields=["updated_at"])
    return prompt, responses


def _link(parents: list[Node], child: Node) -> None:
    Edge.objects.bulk_create([Edge(parent=p, child=child, position=i) for i, p in enumerate(parents)])


@transaction.atomic
def create_note(
    canvas: Canvas, user, text: str, parents: list[Node], x: float | None = None, y: float | None = None
) -> Node:
    default_x, default_y = _below(parents, canvas)
    note = Node.objects.create(
        canvas=canvas,
        kind=NodeKind.NOTE,
        text=text,
        created_by=user,
        x=default_x if x is None else x,
        y=default_y if y is None else y,
        w=300,
        h=160,
    )
    _link(parents, note)
    return note
