"""The comparison page of one prompt: its responses side by side, their metrics and a word diff."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from canvas import access
from canvas.errors import not_found
from canvas.models import Node, NodeKind
from canvas.payloads import nodes_payload
from engine.snapshots import with_live_text


@login_required
@require_GET
def compare_prompt(request, canvas_id, prompt_id):
    canvas = access.canvas_for(request.user, canvas_id)
    prompt = access.node_for(request.user, prompt_id)
    if prompt.canvas_id != canvas.id or prompt.kind != NodeKind.PROMPT:
        raise not_found("prompt")
    rows = list(
        Node.objects.filter(parent_edges__parent=prompt, kind=NodeKind.RESPONSE)
        .select_related("model__account")
        .order_by("created_at")
    )
    data = {
        "canvas": str(canvas.id),
        "prompt": str(prompt.id),
        "responses": with_live_text(nodes_payload(rows)),
        "models": _models_of(rows),
    }
    return render(request, "canvas/compare.html", {"canvas": canvas, "prompt": prompt, "data": data})


def _models_of(rows: list[Node]) -> dict:
    """What a column header needs of each model: its name and whether it is the simulator."""
    return {
        str(r.model_id): {"display_name": r.model.display_name, "simulated": r.model.simulated}
        for r in rows
        if r.model_id
    }
