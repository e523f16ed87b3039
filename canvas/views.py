"""Pages. Thin: load through canvas.access, change through canvas.services, render templates."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from canvas import access, services
from canvas.errors import ApiError
from canvas.models import Canvas
from canvas.payloads import nodes_payload
from engine.announce import announce
from engine.dispatch import start_runs
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
    canvas = Canvas.objects.create(team=team, title=title, created_by=request.user)
    return redirect("canvas-detail", canvas_id=canvas.id)


@login_required
@require_GET
def canvas_detail(request, canvas_id):
    canvas = access.canvas_for(request.user, canvas_id)
    models = [model_payload(m) for m in Model.objects.usable().prefetch_related("prices")]
    models_by_id = {m["id"]: m for m in models}
    node_rows = list(canvas.nodes.select_related("model"))
    nodes = _named(with_live_text(nodes_payload(node_rows)), node_rows)
    context = {
        "canvas": canvas,
        "nodes": nodes,
        "models": models,
        "models_by_id": models_by_id,
        "can_write": access.can_write(access.role_on(request.user, canvas)),
    }
    return render(request, "canvas/detail.html", context)


@login_required
@require_POST
def prompt_create(request, canvas_id):
    canvas = access.canvas_for(request.user, canvas_id, write=True)
    try:
        models = services.usable_models(request.POST.getlist("models"))
        parents = services.parent_nodes(canvas, [p for p in request.POST.get("parents", "").split(",") if p])
        prompt, responses = services.create_prompt(canvas, request.user, request.POST.get("text", ""), models, parents)
    except ApiError as exc:
        return HttpResponse(exc.message, status=exc.status)
    announce([prompt, *responses])
    start_runs([r.id for r in responses])
    return render(request, "canvas/_nodes.html", {"nodes": _named(nodes_payload([prompt, *responses]), responses)})


def _named(payloads: list[dict], responses) -> list[dict]:
    """Give response payloads their model's display name, for the node header."""
    names = {str(r.id): r.model.display_name for r in responses if r.model_id}
    return [{**p, "model_name": names.get(p["id"], "")} for p in payloads]
