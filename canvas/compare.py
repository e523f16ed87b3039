"""The comparison page of one prompt: its responses side by side, their metrics and a word diff."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from canvas import access, blind, votes
from canvas.errors import not_found
from canvas.models import Node, NodeKind
from engine.payloads import nodes_payload
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
    responses = blind.for_user(with_live_text(nodes_payload(rows)), canvas.id, request.user)
    data = {
        "canvas": str(canvas.id),
        "prompt": str(prompt.id),
        "blind": prompt.blind,
        "revealed": prompt.revealed_at is not None,
        "responses": responses,
        "models": _models_of(rows, responses),
        "votes": votes.votes_of(prompt),
        "user": request.user.get_username(),
        "can_vote": access.can_write(canvas.viewer_role),
    }
    return render(request, "canvas/compare.html", {"canvas": canvas, "prompt": prompt, "data": data})


def _models_of(rows: list[Node], shown: list[dict]) -> dict:
    """What a column header needs of each model: its name and whether it is the simulator; nothing of
    the models of answers hidden from this person (`shown`: the payloads as they see them)."""
    named = {payload["model"] for payload in shown if payload.get("model")}
    return {
        str(r.model_id): {"display_name": r.model.display_name, "simulated": r.model.simulated}
        for r in rows
        if str(r.model_id) in named
    }
