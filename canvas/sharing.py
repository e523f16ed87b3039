"""Share links: whoever holds one watches one canvas, read-only, live — and nothing else.

The page is /s/<token>/. Visiting it leaves the link's id in the browser's session
(canvas.access.SHARE_SESSION_KEY), which the canvas WebSocket accepts for that canvas only; an API client
opens /ws/canvases/<id>/?share=<token> instead. The API itself never honours a share link: no keys,
no other canvas, no way to run, edit, export or comment.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from canvas import access, blind, membership, quotas
from canvas.errors import ApiError
from canvas.models import Canvas, ShareLink
from engine.payloads import nodes_payload
from engine.snapshots import with_live_text

REMEMBERED_LINKS = 20


def create(canvas: Canvas, by, name: str = "", expires_in_days: int | None = None) -> tuple[ShareLink, str]:
    quotas.check_share_link(by)
    return ShareLink.issue(canvas, by, (name or "").strip()[:100], membership.expiry(expires_in_days))


def revoke(link: ShareLink) -> None:
    """Revoked at once: open sockets holding it are told to check again and close."""
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
        membership.notify_recheck([link.canvas_id])


def share_url(request, raw: str) -> str:
    return request.build_absolute_uri(reverse("share-page", args=[raw]))


def link_payload(link: ShareLink) -> dict:
    return {
        "id": str(link.id),
        "canvas": str(link.canvas_id),
        "name": link.name,
        "hint": link.hint,
        "created_at": link.created_at.isoformat(),
        "expires_at": link.expires_at.isoformat() if link.expires_at else None,
        "revoked_at": link.revoked_at.isoformat() if link.revoked_at else None,
        "last_used_at": link.last_used_at.isoformat() if link.last_used_at else None,
        "active": link.is_active,
    }


# --- Pages -------------------------------------------------------------------------------------------


@require_GET
def share_page(request, token: str):
    """The canvas, read-only, for whoever holds the link (signed in or not)."""
    link, canvas = access.shared_canvas_for(token)
    held = [i for i in request.session.get(access.SHARE_SESSION_KEY, []) if i != str(link.id)]
    request.session[access.SHARE_SESSION_KEY] = [*held, str(link.id)][-REMEMBERED_LINKS:]
    node_rows = list(canvas.nodes.select_related("model"))
    # A guest never votes: blind answers show only once their prompt is revealed to everyone.
    nodes = blind.for_user(with_live_text(nodes_payload(node_rows)), canvas.id, None)
    named = {payload["model"] for payload in nodes if payload.get("model")}
    context = {
        "canvas": canvas,
        "nodes": nodes,
        "models": [],
        "models_by_id": {
            str(n.model_id): {"id": str(n.model_id), "display_name": n.model.display_name}
            for n in node_rows
            if str(n.model_id) in named
        },
        "can_write": False,
        "guest": True,
    }
    response = render(request, "canvas/detail.html", context)
    # The address is the secret: keep it out of caches and search engines.
    response["Cache-Control"] = "no-store, private"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def sharing_page(request, canvas_id):
    """Share links of a canvas (editors and owners), and where to move it."""
    canvas = access.canvas_for(request.user, canvas_id, write=True)
    new_url, error, status = None, None, 200
    if request.method == "POST":
        try:
            _, raw = create(
                canvas,
                request.user,
                request.POST.get("name", ""),
                membership.days_from_form(request.POST.get("expires_in_days")),
            )
            new_url, status = share_url(request, raw), 201
        except ApiError as exc:
            error, status = exc.message, exc.status
    context = {
        "canvas": canvas,
        "links": canvas.share_links.all(),
        "new_url": new_url,
        "error": error,
        "teams": access.teams_to_move_to(request.user, canvas),
    }
    return render(request, "teams/sharing.html", context, status=status)


@login_required
@require_POST
def share_revoke(request, canvas_id, link_id):
    revoke(access.share_link_of(request.user, canvas_id, link_id))
    return redirect("canvas-sharing", canvas_id=canvas_id)
