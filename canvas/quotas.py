"""Per-person quotas on what anyone signed in can create (settings PRISM_MAX_*_PER_USER): canvases, teams,
invitations and share links. Past one, the creation is refused with a 403 `quota` error that says which
limit was reached; pages show the same message."""

from __future__ import annotations

from django.conf import settings

from canvas.errors import ApiError
from canvas.models import Canvas, Invite, Role, ShareLink


def _refuse_at(count: int, limit: int, what: str) -> None:
    if count >= limit:
        raise ApiError(403, "quota", f"You have reached the limit of {limit} {what}; remove some to make more.")


def check_canvas(user) -> None:
    # A deleted canvas no longer counts (restoring it checks again): deleting is how one makes room.
    kept = Canvas.objects.filter(created_by=user, deleted_at__isnull=True).count()
    _refuse_at(kept, settings.PRISM_MAX_CANVASES_PER_USER, "canvases")


def check_team(user) -> None:
    owned = user.memberships.filter(role=Role.OWNER, team__personal=False).count()
    _refuse_at(owned, settings.PRISM_MAX_TEAMS_PER_USER, "teams you own")


def check_invite(user) -> None:
    open_invites = Invite.objects.usable().filter(created_by=user).count()
    _refuse_at(open_invites, settings.PRISM_MAX_INVITES_PER_USER, "open invitations")


def check_share_link(user) -> None:
    links = ShareLink.objects.active().filter(created_by=user).count()
    _refuse_at(links, settings.PRISM_MAX_SHARE_LINKS_PER_USER, "active share links")
