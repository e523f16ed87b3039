"""Pages. Thin: load through canvas.access, change through canvas.services, render templates."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from canvas import access, blind, quotas, votes
from canvas.errors import ApiError
from canvas.models import Canvas
from engine.payloads import nodes_payload
from engine.snapshots import with_live_text
from providers.models import Model
from providers.payloads import model_payload


@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@login_required
@require_GET
def canvas_list(request):
    canvases = access.visible_canvases(request.user).select_related("team")
    return render(request, "canvas/list.html", {"canvases": canvases})


@login_required
@require_POST
def canvas_create(request):
    title = request.POST.get("title", "").strip()[:200] or "Untitled canvas"
    team = access.team_for_new_canvas(request.user, request.POST.get("team") or None)
    try:
        quotas.check_canvas(request.user)
    except ApiError as exc:
        messages.error(request, exc.message)
        return redirect("canvas-list")
    canvas = Canvas.objects.create(team=team, title=title, created_by=request.user)
    return redirect("canvas-detail", canvas_id=canvas.id)


# The composer offers at most this many answers per prompt unless settings lower the server's own limit.
COMPOSER_MAX_MODELS = 8


@login_required
@require_GET
def canvas_detail(request, canvas_id):
    canvas = access.canvas_for(request.user, canvas_id)
    models = [model_payload(m) for m in Model.objects.usable().prefetch_related("prices")]
    node_rows = list(canvas.nodes.select_related("model"))
    nodes = blind.for_user(with_live_text(nodes_payload(node_rows)), canvas.id, request.user)
    context = {
        "canvas": canvas,
        "nodes": nodes,
        "models": models,
        "models_by_id": _models_by_id(models, node_rows, nodes),
        "can_write": access.can_write(canvas.viewer_role),
        "max_models": min(settings.PRISM_MAX_MODELS_PER_PROMPT, COMPOSER_MAX_MODELS),
        "votes": votes.votes_of_canvas(canvas),
    }
    return render(request, "canvas/detail.html", context)


def _models_by_id(models: list[dict], node_rows, shown: list[dict]) -> dict:
    """Every model a node names, usable or not (a disabled model's old answers keep their title); not
    those of answers hidden from this person (`shown`: the payloads as they see them)."""
    named_ids = {payload["model"] for payload in shown if payload.get("model")}
    named = {str(n.model_id): n.model.display_name for n in node_rows if str(n.model_id) in named_ids}
    return {model_id: {"id": model_id, "display_name": name} for model_id, name in named.items()} | {
        m["id"]: m for m in models
    }
