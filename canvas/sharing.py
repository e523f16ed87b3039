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
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import digest_token
from accounts.pages import render_page
from canvas import access, blind, membership, quotas
from canvas.errors import ApiError
from canvas.models import Canvas, ShareLink
from engine.payloads import nodes_payload
from engine.snapshots import with_live_text
from providers.text import clean_text

REMEMBERED_LINKS = 20


def create(canvas: Canvas, by, name: str = "", expires_in_days: int | None = None) -> tuple[ShareLink, str]:
    quotas.check_share_link(by)
    return ShareLink.issue(canvas, by, clean_text(name or "").strip()[:100], membership.expiry(expires_in_days))


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
    link = access.share_link_for_token(token)
    if link is None:
        return _private(render(request, "teams/share_closed.html", {"why": why_closed(token)}, status=404))
    canvas = link.canvas
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
    return _private(render(request, "canvas/detail.html", context))


def _private(response):
    # The address is the secret: keep it out of caches and search engines.
    response["Cache-Control"] = "no-store, private"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def why_closed(raw: str) -> str:
    """Why this token opens no canvas, in words for whoever holds it: what became of a link that was
    issued (nothing of its canvas), or that no link has this token."""
    link = ShareLink.objects.filter(digest=digest_token(raw)).first() if len(raw) <= 200 else None
    if link is None:
        return "This link does not open any canvas. Check that it was copied whole."
    if link.revoked_at is not None:
        return "This share link was revoked: it no longer opens its canvas. Ask whoever shared it for a new one."
    if link.expires_at is not None and link.expires_at <= timezone.now():
        when = date_format(localtime(link.expires_at), "DATETIME_FORMAT")
        return f"This share link expired on {when}. Ask whoever shared it for a new one."
    return "This share link no longer opens its canvas. Ask whoever shared it for a new one."


@login_required
@require_http_methods(["GET", "POST"])
def sharing_page(request, canvas_id):
    """Share links of a canvas (editors and owners), and where to move it."""
    canvas = access.canvas_for(request.user, canvas_id, write=True)
    if request.method == "GET":
        return _sharing_page(request, canvas)
    try:
        _, raw = create(
            canvas,
            request.user,
            request.POST.get("name", ""),
            membership.days_from_form(request.POST.get("expires_in_days")),
        )
    except ApiError as exc:
        return _sharing_page(request, canvas, error=exc.message, status=exc.status)
    return _sharing_page(request, canvas, new_url=share_url(request, raw), status=201)


@login_required
@require_POST
def share_revoke(request, canvas_id, link_id):
    revoke(access.share_link_of(request.user, canvas_id, link_id))
    if request.htmx:
        return _sharing_page(request, access.canvas_for(request.user, canvas_id, write=True))
    return redirect("canvas-sharing", canvas_id=canvas_id)


def _sharing_page(request, canvas: Canvas, new_url: str | None = None, error: str | None = None, status: int = 200):
    context = {
        "canvas": canvas,
        "links": canvas.share_links.all(),
        "new_url": new_url,
        "error": error,
        "teams": access.teams_to_move_to(request.user, canvas),
    }
    return render_page(request, "teams/sharing.html", context, status=status)
