"""Who may see or change what. Every view, API endpoint and WebSocket message goes through here."""

from __future__ import annotations

import uuid

from canvas.errors import forbidden, not_found
from canvas.models import Canvas, Membership, Node, Role, Team

WRITE_ROLES = (Role.OWNER, Role.EDITOR)


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def visible_canvases(user):
    if not user.is_authenticated:
        return Canvas.objects.none()
    return Canvas.objects.filter(team__memberships__user=user)


def role_on(user, canvas: Canvas) -> str | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(team_id=canvas.team_id, user=user).values_list("role", flat=True).first()


def can_write(role: str | None) -> bool:
    return role in WRITE_ROLES


def canvas_for(user, canvas_id, *, write: bool = False) -> Canvas:
    """The canvas if the user may see it (404 otherwise, so outsiders learn nothing), and may change it
    when `write` (403 for a viewer)."""
    pk = _uuid(canvas_id)
    canvas = visible_canvases(user).filter(pk=pk).first() if pk else None
    if canvas is None:
        raise not_found("canvas")
    if write and not can_write(role_on(user, canvas)):
        raise forbidden("You may view this canvas but not change it.")
    return canvas


def node_for(user, node_id, *, write: bool = False) -> Node:
    pk = _uuid(node_id)
    node = (
        Node.objects.select_related("canvas").filter(pk=pk, canvas__in=visible_canvases(user)).first() if pk else None
    )
    if node is None:
        raise not_found("node")
    if write and not can_write(role_on(user, node.canvas)):
        raise forbidden("You may view this canvas but not change it.")
    return node


def team_for_new_canvas(user, team_id=None) -> Team:
    memberships = Membership.objects.filter(user=user).select_related("team")
    if team_id is None:
        membership = memberships.filter(team__personal=True).first() or memberships.first()
    else:
        pk = _uuid(team_id)
        membership = memberships.filter(team_id=pk).first() if pk else None
    if membership is None:
        raise not_found("team")
    if not can_write(membership.role):
        raise forbidden("Viewers cannot create canvases in this team.")
    return membership.team
