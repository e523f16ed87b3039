"""Who may see or change what. Every page, API endpoint and WebSocket message goes through here.

The rules, one a line:
- a canvas belongs to one team; its members see it with their role there (owner, editor, viewer);
- owners and editors change canvases; viewers read them and may comment; owners manage the team;
- someone who may not see a thing gets 404 for it (they learn nothing), someone who may see it but
  not change it gets 403;
- a share link lets whoever holds it watch one canvas, read-only: its page and its WebSocket only,
  never the API, never another canvas, never comments;
- what a person made (share links, invitations) works only while they could still make it: a link
  while its maker may change the canvas's team's canvases, an invitation while its maker owns the
  team; moving a canvas out of a team takes an owner of that team;
- ids from another team's objects resolve to nothing (404), whatever the caller's role elsewhere;
- owners and editors vote on a prompt's answers, viewers see the votes; a vote is taken back by its
  author only; a blind prompt is revealed to everyone by its author only;
- owners and editors ask a judge model to judge a prompt's answers, viewers see its judgements and votes;
- a judge's workspace (the hidden canvas of its runs, Canvas.judged_canvas) is nobody's to see: it is
  left out of `Canvas.objects`, so every rule here that finds canvases finds it for no one;
- a team's members see its usage and budgets; only owners see each person's figures and set budgets;
  provider health spans all teams and is for staff only;
- the self-hosted servers' pages are for staff; to anyone else they do not exist (404);
- a deleted canvas does not exist for anyone (404: its nodes, comments, votes, share links and sockets
  with it) except to restore it: its team's owners and editors may, for RESTORE_DAYS.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import timedelta

from django.db.models import F, Q
from django.utils import timezone

from accounts.models import digest_token, note_use
from canvas.errors import forbidden, not_found
from canvas.models import RESTORE_DAYS, Canvas, Comment, Invite, Membership, Node, Preset, Role, ShareLink, Team, Vote
from config import sql

WRITE_ROLES = (Role.OWNER, Role.EDITOR)
GUEST_NAME = "guest"
# The session entry that visiting /s/<token>/ sets: the ids of the share links this browser holds.
SHARE_SESSION_KEY = "prism.share_links"


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def display_name(user) -> str:
    """What others see of a person: never the email."""
    return user.get_full_name() or user.get_username()


@dataclass(frozen=True)
class Principal:
    """Who is on the other end of a socket or a shared page: a member with a role, or a share-link guest."""

    canvas_id: uuid.UUID
    user_id: int | None = None
    name: str = GUEST_NAME
    role: str | None = None
    share_link_id: uuid.UUID | None = None

    @property
    def can_write(self) -> bool:
        return can_write(self.role)

    @property
    def can_comment(self) -> bool:
        # Viewers may discuss what they see; guests only watch.
        return self.role is not None

    @property
    def sees_comments(self) -> bool:
        return self.role is not None

    @property
    def sees_votes(self) -> bool:
        # Guests see neither votes nor who made them; members see them, viewers included.
        return self.role is not None


# --- Canvases and nodes -----------------------------------------------------------------------------


def visible_canvases(user):
    if not user.is_authenticated:
        return Canvas.objects.none()
    return Canvas.objects.filter(team__memberships__user=user, deleted_at__isnull=True)


def deleted_canvases(user):
    """The deleted canvases this user may still restore: in a team where they change canvases, deleted
    less than RESTORE_DAYS ago."""
    if not user.is_authenticated:
        return Canvas.objects.none()
    since = timezone.now() - timedelta(days=RESTORE_DAYS)
    return Canvas.objects.filter(
        team__memberships__user=user, team__memberships__role__in=WRITE_ROLES, deleted_at__gt=since
    )


def deleted_canvas_for(user, canvas_id) -> Canvas:
    """A deleted canvas to restore: 404 unless the user may see its team's canvases and it is still
    restorable; 403 for a viewer."""
    pk = _uuid(canvas_id)
    since = timezone.now() - timedelta(days=RESTORE_DAYS)
    found = (
        Canvas.objects.filter(pk=pk, team__memberships__user=user, deleted_at__gt=since)
        .annotate(viewer_role=F("team__memberships__role"))
        .first()
        if pk and user.is_authenticated
        else None
    )
    if found is None:
        raise not_found("canvas")
    if not can_write(found.viewer_role):
        raise forbidden("You may view this canvas but not change it.")
    return found


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
    canvas = _visible_canvas(user, pk) if pk else None
    if canvas is None:
        raise not_found("canvas")
    if write and not can_write(canvas.viewer_role):
        raise forbidden("You may view this canvas but not change it.")
    return canvas


def _visible_canvas(user, pk: uuid.UUID) -> Canvas | None:
    """visible_canvases(user).get(pk=pk) with its team, and the user's role there as `viewer_role`, from
    the very membership row that makes the canvas visible. Nearly every API request asks this, so it is
    written out (config.sql); the rule is visible_canvases' and Canvas.objects' (no judge's workspace)."""
    if not user.is_authenticated:
        return None
    found = sql.rows(
        f"SELECT {sql.columns(Canvas, 'c')}, {sql.columns(Team, 't')}, m.role FROM {sql.table(Canvas)} c"
        f" JOIN {sql.table(Team)} t ON t.id = c.team_id"
        f" JOIN {sql.table(Membership)} m ON m.team_id = c.team_id AND m.user_id = %s"
        " WHERE c.id = %s AND c.deleted_at IS NULL AND c.judged_canvas_id IS NULL",
        [user.pk, sql.value(Canvas, "id", pk)],
    )
    if not found:
        return None
    row, width = found[0], sql.width(Canvas)
    canvas = sql.load(Canvas, row[:width])
    canvas.team = sql.load(Team, row[width:-1])
    canvas.viewer_role = row[-1]
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


def node_to_comment_on(principal: Principal, node_id) -> Node:
    """A node of the socket's own canvas, for a principal who may comment: a node of any other canvas
    is not found, whichever team it is in."""
    if not principal.can_comment:
        raise forbidden("Guests cannot comment.")
    pk = _uuid(node_id)
    node = (
        Node.objects.filter(pk=pk, canvas_id=principal.canvas_id, canvas__deleted_at__isnull=True).first()
        if pk
        else None
    )
    if node is None:
        raise not_found("node")
    return node


def comment_for(user, comment_id, *, delete: bool = False) -> Comment:
    """A comment the user sees; deleting it takes its author or a team owner."""
    pk = _uuid(comment_id)
    comment = (
        Comment.objects.select_related("node__canvas").filter(pk=pk, node__canvas__in=visible_canvases(user)).first()
        if pk
        else None
    )
    if comment is None:
        raise not_found("comment")
    if delete and comment.author_id != user.pk and role_on(user, comment.node.canvas) != Role.OWNER:
        raise forbidden("Only its author or a team owner may delete a comment.")
    return comment


def vote_for(user, vote_id, *, delete: bool = False) -> Vote:
    """A vote on a canvas the user sees; taking it back takes its author."""
    pk = _uuid(vote_id)
    vote = Vote.objects.select_related("user").filter(pk=pk, canvas__in=visible_canvases(user)).first() if pk else None
    if vote is None:
        raise not_found("vote")
    if delete and vote.user_id != user.pk:
        raise forbidden("Only its author may take back a vote.")
    return vote


def prompt_to_reveal(user, prompt_id) -> Node:
    """A prompt the user wrote, on a canvas they may still change."""
    node = node_for(user, prompt_id, write=True)
    if node.created_by_id != user.pk:
        raise forbidden("Only the prompt's author may reveal its answers to everyone.")
    return node


# --- Presets (saved model sets) ---------------------------------------------------------------------


def visible_presets(user):
    """The user's own presets and those of every team they are in."""
    if not user.is_authenticated:
        return Preset.objects.none()
    return Preset.objects.filter(Q(team__isnull=True, owner=user) | Q(team__memberships__user=user)).distinct()


def team_for_new_preset(user, team_id) -> Team | None:
    """None: a personal preset. A team's presets are shared with its members and made by its editors."""
    if team_id is None:
        return None
    membership = membership_for(user, team_id)
    if not can_write(membership.role):
        raise forbidden("Only the team's editors and owners may save presets for it.")
    return membership.team


def preset_for(user, preset_id, *, delete: bool = False) -> Preset:
    """A preset the user sees; deleting a team's takes an editor or owner of that team."""
    pk = _uuid(preset_id)
    preset = visible_presets(user).filter(pk=pk).first() if pk else None
    if preset is None:
        raise not_found("preset")
    if delete and preset.team_id is not None:
        role = Membership.objects.filter(team_id=preset.team_id, user=user).values_list("role", flat=True).first()
        if not can_write(role):
            raise forbidden("Only the team's editors and owners may delete its presets.")
    return preset


# --- Teams -------------------------------------------------------------------------------------------


def membership_for(user, team_id, *, manage: bool = False) -> Membership:
    """The user's own membership of the team: 404 for a team they are not in. Managing the team
    (members, invites, settings) takes an owner."""
    pk = _uuid(team_id)
    membership = (
        Membership.objects.select_related("team").filter(team_id=pk, user=user).first()
        if pk and user.is_authenticated
        else None
    )
    if membership is None:
        raise not_found("team")
    if manage and membership.role != Role.OWNER:
        raise forbidden("Only the team's owners may manage its members and invitations.")
    return membership


def team_for(user, team_id, *, manage: bool = False) -> Team:
    """A team the user is in; managing it takes an owner."""
    return membership_for(user, team_id, manage=manage).team


def team_usage_for(user, team_id, *, per_person: bool = False) -> Membership:
    """A team's usage and budgets: its members see them; each person's own figures take an owner."""
    mine = membership_for(user, team_id)
    if per_person and mine.role != Role.OWNER:
        raise forbidden("Only the team's owners see each person's usage.")
    return mine


def sees_provider_health(user) -> bool:
    """Provider health and the self-hosted servers span every team: staff only."""
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def member_of(user, team_id, member_id, *, or_self: bool = False) -> Membership:
    """A membership of a team the user owns; with `or_self`, also the user's own (to leave it)."""
    mine = membership_for(user, team_id)
    pk = _uuid(member_id)
    target = (
        Membership.objects.select_related("user", "team").filter(key=pk, team_id=mine.team_id).first() if pk else None
    )
    if target is None:
        raise not_found("member")
    if mine.role != Role.OWNER and not (or_self and target.user_id == user.pk):
        raise forbidden("Only the team's owners may manage its members and invitations.")
    return target


def invite_of(user, team_id, invite_id) -> Invite:
    """A pending invitation of a team the user owns."""
    team = team_for(user, team_id, manage=True)
    pk = _uuid(invite_id)
    invite = Invite.objects.usable().filter(pk=pk, team=team).first() if pk else None
    if invite is None:
        raise not_found("invitation")
    return invite


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


def teams_to_move_to(user, canvas: Canvas):
    """The other teams this user could move the canvas (one canvas_for read) into: none unless they own
    its team, else those where they are an owner or editor."""
    if canvas.viewer_role != Role.OWNER:
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user, memberships__role__in=WRITE_ROLES).exclude(pk=canvas.team_id)


def canvas_to_move(user, canvas_id, team_id) -> tuple[Canvas, Team]:
    """Moving a canvas takes an owner of the team it is in (it takes the canvas, its spend to come and its
    share links away from that team) and an owner or editor of the team it goes to."""
    canvas = canvas_for(user, canvas_id, write=True)
    if canvas.viewer_role != Role.OWNER:
        raise forbidden("Only an owner of this canvas's team may move it to another team.")
    return canvas, team_for_new_canvas(user, team_id)


# --- Operators ---------------------------------------------------------------------------------------


def require_staff(user) -> None:
    """The operators' pages (the servers' panels): staff only, not found for anyone else."""
    if not (user.is_authenticated and user.is_active and user.is_staff):
        raise not_found("page")


# --- Share links -------------------------------------------------------------------------------------


def share_link_for_token(raw: str | None) -> ShareLink | None:
    """The active share link this token opens, or None (revoked, expired, or never issued)."""
    if not raw or len(raw) > 200:
        return None
    link = _live_links().select_related("canvas").filter(digest=digest_token(raw)).first()
    if link is not None:
        note_use(link)
    return link


def _live_links():
    """Active share links of canvases that are not deleted."""
    return ShareLink.objects.active().filter(canvas__deleted_at__isnull=True)


def share_link_of(user, canvas_id, link_id) -> ShareLink:
    """A share link of a canvas the user may change (only editors and owners manage links)."""
    canvas = canvas_for(user, canvas_id, write=True)
    pk = _uuid(link_id)
    link = ShareLink.objects.filter(pk=pk, canvas=canvas).first() if pk else None
    if link is None:
        raise not_found("share link")
    return link


# --- Principals (WebSocket, shared pages) ----------------------------------------------------------


def principal_for(user, canvas_id, *, share_token: str | None = None, share_link_ids=()) -> Principal | None:
    """Who this is on the canvas, or None if nobody allowed: a member first, else the holder of an
    active share link of this very canvas (by its token, or by the ids a shared page left in the session)."""
    pk = _uuid(canvas_id)
    if pk is None:
        return None
    if user is not None and user.is_authenticated and user.is_active:
        role = _role_on_canvas(pk, user_id=user.pk)
        if role is not None:
            return Principal(canvas_id=pk, user_id=user.pk, name=display_name(user), role=role)
    link = None
    if share_token:
        link = share_link_for_token(share_token)
    if link is None or link.canvas_id != pk:
        ids = [i for i in (_uuid(v) for v in share_link_ids) if i]
        link = _live_links().filter(pk__in=ids, canvas_id=pk).first() if ids else None
    if link is None:
        return None
    return Principal(canvas_id=pk, share_link_id=link.id)


def _role_on_canvas(canvas_id, **member) -> str | None:
    """The member's role on the canvas through its team."""
    return _memberships_on([canvas_id], **member).values_list("role", flat=True).first()


def _memberships_on(canvas_ids, **member):
    """The memberships giving a role on these canvases through their teams; none on a judge's workspace
    (this join does not go through `Canvas.objects`, which leaves workspaces out) nor on a deleted canvas.
    One filter() call, so that every condition is on the same canvas."""
    return Membership.objects.filter(
        team__canvases__in=canvas_ids,
        team__canvases__judged_canvas=None,
        team__canvases__deleted_at__isnull=True,
        **member,
    )


def recheck(principals: list[Principal]) -> list[Principal | None]:
    """Each principal as it stands now, in order: a new role, or None once the membership is gone, the
    link is revoked or expired, or the canvas has moved to a team the user is not in. One query for the
    members and one for the guests, however many: a web process re-checks all its sockets together
    (canvas.consumers)."""
    # An empty `__in` makes no query: a batch of members only, or of guests only, is one query.
    members = [p for p in principals if p.share_link_id is None]
    rows = _memberships_on(
        {p.canvas_id for p in members}, user_id__in={p.user_id for p in members}, user__is_active=True
    ).values_list("team__canvases", "user_id", "role")
    roles = {(canvas_id, user_id): role for canvas_id, user_id, role in rows}
    guests = {p.share_link_id for p in principals if p.share_link_id is not None}
    live = set(_live_links().filter(pk__in=guests).values_list("pk", "canvas_id"))
    return [_as_it_stands(p, roles, live) for p in principals]


def _as_it_stands(principal: Principal, roles: dict[tuple, str], live: set[tuple]) -> Principal | None:
    if principal.share_link_id is not None:
        return principal if (principal.share_link_id, principal.canvas_id) in live else None
    role = roles.get((principal.canvas_id, principal.user_id))
    if role is None:
        return None
    return principal if role == principal.role else replace(principal, role=role)
