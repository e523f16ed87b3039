"""Team rules shared by the team pages and the API: creating teams, inviting, roles, leaving, moving canvases.

Who may call each of these is decided before, in canvas.access; these functions keep the team whole:
a team never loses its last owner, and an invitation is used at most once.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import digest_token
from canvas import quotas
from canvas.access import WRITE_ROLES
from canvas.errors import ApiError, invalid, not_found
from canvas.models import Canvas, Invite, Membership, Role, ShareLink, Team
from engine import sender
from providers.text import clean_text

MAX_EXPIRY_DAYS = 365
# An invitation to own a team is a key to everything in it: it always expires, within this many days.
OWNER_INVITE_DAYS = 7
# The consumer's handler for "look again at who you are serving" (CanvasConsumer.access_recheck).
RECHECK = "access.recheck"


def last_owner() -> ApiError:
    return ApiError(409, "last_owner", "A team needs an owner: make someone else an owner first.")


def days_from_form(value) -> int | None:
    """A form's "expires in days" field: None when left empty; what is not a whole number comes back as
    -1, which expiry() refuses with a clear message."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return -1


def expiry(days: int | None):
    """When something given `days` to live expires; None for never."""
    if days is None:
        return None
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise invalid(f"Expiry must be between 1 and {MAX_EXPIRY_DAYS} days, or none.")
    return timezone.now() + timedelta(days=days)


def role_from(value) -> str:
    if value not in Role.values:
        raise invalid(f"Role must be one of: {', '.join(Role.values)}.")
    return value


@transaction.atomic
def create_team(user, name: str) -> Team:
    name = clean_text(name or "").strip()
    if not name or len(name) > 100:
        raise invalid("A team needs a name of at most 100 characters.")
    quotas.check_team(user)
    team = Team.objects.create(name=name)
    Membership.objects.create(team=team, user=user, role=Role.OWNER)
    return team


def invite(team: Team, by, role: str, expires_in_days: int | None) -> tuple[Invite, str]:
    quotas.check_invite(by)
    role = role_from(role)
    if role == Role.OWNER:
        if expires_in_days is None:
            expires_in_days = OWNER_INVITE_DAYS
        elif expires_in_days > OWNER_INVITE_DAYS:
            raise invalid(f"An invitation to be an owner expires within {OWNER_INVITE_DAYS} days at most.")
    return Invite.issue(team, role, by, expiry(expires_in_days))


def invite_for_token(raw: str | None) -> Invite:
    """The usable invitation this token opens: 404 for a wrong, used, revoked or expired one alike."""
    invite = Invite.objects.usable().select_related("team").filter(digest=digest_token(raw or "")).first()
    if invite is None:
        raise not_found("invitation (it may have been used, revoked or have expired)")
    return invite


@transaction.atomic
def accept(user, raw: str | None) -> tuple[Membership, bool]:
    """Join the team with the invited role; (membership, joined). A member already in the team keeps
    the role they have, and the invitation stays unused for someone else."""
    invite = invite_for_token(raw)
    # Two people accepting one invitation at once: the second finds it used.
    if Invite.objects.usable().select_for_update(of=("self",)).filter(pk=invite.pk).first() is None:
        raise not_found("invitation (it may have been used, revoked or have expired)")
    existing = Membership.objects.filter(team=invite.team, user=user).first()
    if existing is not None:
        return existing, False
    membership = Membership.objects.create(team=invite.team, user=user, role=invite.role)
    Invite.objects.filter(pk=invite.pk).update(accepted_by=user, accepted_at=timezone.now())
    return membership, True


def revoke_invite(invite: Invite) -> None:
    Invite.objects.filter(pk=invite.pk).update(revoked_at=timezone.now())


def _owners_locked(team: Team) -> int:
    # Locking the owners' rows makes two owners demoting each other at once take turns.
    return len(list(Membership.objects.select_for_update().filter(team=team, role=Role.OWNER).values_list("pk")))


@transaction.atomic
def change_role(membership: Membership, role: str) -> Membership:
    role = role_from(role)
    if membership.role == Role.OWNER and role != Role.OWNER and _owners_locked(membership.team) <= 1:
        raise last_owner()
    membership.role = role
    membership.save(update_fields=["role"])
    access_changed(membership.team)
    return membership


@transaction.atomic
def remove(membership: Membership) -> None:
    """Remove a member (or leave). Their open sockets on the team's canvases close within moments."""
    if membership.role == Role.OWNER and _owners_locked(membership.team) <= 1:
        raise last_owner()
    membership.delete()
    access_changed(membership.team)


@transaction.atomic
def move_canvas(canvas: Canvas, team: Team) -> Canvas:
    """Move the canvas; its share links made by people who may not change canvases in the new team stop."""
    if canvas.team_id != team.id:
        canvas.team = team
        canvas.save(update_fields=["team", "updated_at"])
        writers = Membership.objects.filter(team=team, role__in=WRITE_ROLES).values("user_id")
        ShareLink.objects.active().filter(canvas=canvas).exclude(created_by__in=writers).update(
            revoked_at=timezone.now()
        )
        notify_recheck([canvas.id])
    return canvas


def withdraw_grants(team_id, user_id, role: str | None) -> None:
    """What a member made stops working once they could no longer make it (`role` is theirs now, None
    once they are gone): their share links of the team's canvases unless they may still change them,
    their invitations to the team unless they still own it. Revoked for good: giving the role back
    later revives nothing."""
    now = timezone.now()
    canvas_ids: list = []
    if role not in WRITE_ROLES:
        links = ShareLink.objects.active().filter(created_by_id=user_id, canvas__team_id=team_id)
        canvas_ids = list(links.values_list("canvas_id", flat=True).distinct())
        if canvas_ids:
            links.update(revoked_at=now)
    if role != Role.OWNER:
        Invite.objects.usable().filter(created_by_id=user_id, team_id=team_id).update(revoked_at=now)
    notify_recheck(canvas_ids)  # guests watching through a revoked link are closed within moments


def access_changed(team: Team) -> None:
    notify_recheck(list(team.canvases.values_list("id", flat=True)))


def notify_recheck(canvas_ids: list) -> None:
    """After commit, tell every socket on these canvases to check its access again now."""
    if not canvas_ids:
        return
    groups = [sender.canvas_group(canvas_id) for canvas_id in canvas_ids]
    transaction.on_commit(lambda: sender.notify_from_thread(groups, {"type": RECHECK}))
