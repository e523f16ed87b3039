"""Pages. Thin: load through canvas.access, change through canvas.services, render templates."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from canvas import access, blind, duplicate, listing, quotas, search, services, token_ratios, trash, votes
from canvas.errors import ApiError
from canvas.models import RESTORE_DAYS, Canvas
from engine.payloads import nodes_payload
from engine.snapshots import with_live_text
from providers.payloads import usable_model_payloads
from providers.text import clean_text


@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@login_required
@require_GET
def canvas_list(request):
    """Every canvas the person may see, newest change first, with its size and cost; or, with `q`, what
    search finds. htmx (search as you type) asks for the results part alone."""
    query = clean_text(request.GET.get("q", "")).strip()[: search.MAX_QUERY]
    context = {
        "query": query,
        "results": search.search(request.user, query) if query else [],
        "canvases": [] if query else listing.summaries(request.user),
        "deleted": [] if query else listing.deleted(request.user),
        "shown": listing.SHOWN,
    }
    template = "canvas/_results.html" if request.htmx else "canvas/list.html"
    return render(request, template, context)


@login_required
@require_POST
def canvas_create(request):
    """A new canvas; with `starter`, the sample canvas whose note explains what to do."""
    title = clean_text(request.POST.get("title", "")).strip()[:200] or "Untitled canvas"
    team = access.team_for_new_canvas(request.user, request.POST.get("team") or None)
    try:
        quotas.check_canvas(request.user)
    except ApiError as exc:
        messages.error(request, exc.message)
        return redirect("canvas-list")
    if request.POST.get("starter"):
        canvas = listing.create_starter(team, request.user)
    else:
        canvas = Canvas.objects.create(team=team, title=title, created_by=request.user)
    return redirect("canvas-detail", canvas_id=canvas.id)


@login_required
@require_POST
def canvas_rename(request, canvas_id):
    """A new title and tags (comma-separated), from the list page."""
    canvas = access.canvas_for(request.user, canvas_id, write=True)
    try:
        changes = listing.parse_settings(request.POST)
        services.update_canvas(canvas, changes)
    except ApiError as exc:
        if not request.htmx:
            messages.error(request, exc.message)
            return redirect("canvas-list")
        return _row(request, canvas.id, error=exc.message)
    return _row(request, canvas.id) if request.htmx else redirect("canvas-list")


@login_required
@require_POST
def canvas_delete(request, canvas_id):
    canvas = access.canvas_for(request.user, canvas_id, write=True)
    trash.delete_canvas(canvas)
    if request.htmx:  # the row becomes "deleted · Undo"
        return render(request, "canvas/_deleted_row.html", {"canvas": canvas})
    messages.success(request, f"Deleted “{canvas.title}”. You can restore it below for {RESTORE_DAYS} days.")
    return redirect("canvas-list")


@login_required
@require_POST
def canvas_restore(request, canvas_id):
    canvas = access.deleted_canvas_for(request.user, canvas_id)
    try:
        trash.restore_canvas(canvas)
    except ApiError as exc:
        if request.htmx:
            return render(request, "canvas/_deleted_row.html", {"canvas": canvas, "error": exc.message})
        messages.error(request, exc.message)
        return redirect("canvas-list")
    return _row(request, canvas.id) if request.htmx else redirect("canvas-list")


@login_required
@require_POST
def canvas_duplicate(request, canvas_id):
    canvas = access.canvas_for(request.user, canvas_id, write=True)
    try:
        copy = duplicate.duplicate_canvas(canvas, request.user)
    except ApiError as exc:
        messages.error(request, exc.message)
        return redirect("canvas-list")
    messages.success(request, f"Made “{copy.title}”.")
    return redirect("canvas-list")


def _row(request, canvas_id, error: str = ""):
    return render(request, "canvas/_row.html", {"canvas": listing.summary(request.user, canvas_id), "error": error})


# The composer offers at most this many answers per prompt unless settings lower the server's own limit.
COMPOSER_MAX_MODELS = 8


@login_required
@require_GET
def canvas_detail(request, canvas_id):
    canvas = access.canvas_for(request.user, canvas_id)
    models = usable_model_payloads()
    ratios = token_ratios.chars_per_token([model["id"] for model in models])
    for model in models:
        model["chars_per_token"] = ratios.get(model["id"])
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
        "recent_canvases": listing.recent(request.user, exclude=canvas),
        # The canvas menu (canvas-menu.js): who sees the canvas, and where its owner may move it.
        "people": canvas.team.memberships.select_related("user").order_by("user__username"),
        "role": canvas.viewer_role,
        "move_teams": access.teams_to_move_to(request.user, canvas),
        "restore_days": RESTORE_DAYS,
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
