"""The API of teams, invitations, share links, comments and moving canvases (mounted into canvas.api).

Thin like the rest: access through canvas.access, rules in canvas.membership / sharing / comments. No
body field here sets who owns what: a role comes only from an invitation an owner made or an owner's
change, a canvas's team only from a move that needs write access on both sides.
"""

from __future__ import annotations

from django.urls import reverse
from ninja import Router, Status

from canvas import access, comments, membership, sharing
from canvas.payloads import canvas_payload
from canvas.schemas import (
    AcceptOut,
    CanvasOut,
    CommentIn,
    CommentOut,
    ErrorEnvelope,
    InviteCreatedOut,
    InviteIn,
    InviteOut,
    MemberOut,
    MoveIn,
    RoleIn,
    ShareLinkCreatedOut,
    ShareLinkIn,
    ShareLinkOut,
    TeamDetailOut,
    TeamIn,
    TeamOut,
)

router = Router()


def answers(ok: dict, *codes: int) -> dict:
    """The success response and the error responses (JSON error envelopes) for the OpenAPI document."""
    return ok | dict.fromkeys((401, *codes), ErrorEnvelope)


def _team(m) -> dict:
    t = m.team
    return {
        "id": str(t.id),
        "name": t.name,
        "personal": t.personal,
        "role": m.role,
        "created_at": t.created_at.isoformat(),
    }


def _member(m) -> dict:
    return {"id": str(m.key), "name": access.display_name(m.user), "username": m.user.get_username(), "role": m.role}


def _invite(i) -> dict:
    expires = i.expires_at.isoformat() if i.expires_at else None
    return {"id": str(i.id), "team": str(i.team_id), "role": i.role, "created_at": i.created_at.isoformat(),
            "expires_at": expires}  # fmt: skip


# --- Teams and members -------------------------------------------------------------------------------


@router.get("/teams", response=answers({200: list[TeamOut]}), tags=["teams"])
def list_teams(request):
    return [_team(m) for m in request.user.memberships.select_related("team").order_by("team__name")]


@router.post("/teams", response=answers({201: TeamOut}, 400, 403), tags=["teams"])
def create_team(request, body: TeamIn):
    team = membership.create_team(request.user, body.name)
    return Status(201, _team(access.membership_for(request.user, team.id)))


@router.get("/teams/{team_id}", response=answers({200: TeamDetailOut}, 404), tags=["teams"])
def get_team(request, team_id: str):
    mine = access.membership_for(request.user, team_id)
    members = mine.team.memberships.select_related("user").order_by("user__username")
    return {**_team(mine), "members": [_member(m) for m in members]}


@router.patch(
    "/teams/{team_id}/members/{member_id}", response=answers({200: MemberOut}, 400, 403, 404, 409), tags=["teams"]
)
def change_role(request, team_id: str, member_id: str, body: RoleIn):
    """Owners only. The last owner cannot be demoted (409)."""
    return _member(membership.change_role(access.member_of(request.user, team_id, member_id), body.role))


@router.delete("/teams/{team_id}/members/{member_id}", response=answers({204: None}, 403, 404, 409), tags=["teams"])
def remove_member(request, team_id: str, member_id: str):
    """Owners remove anyone; anyone removes themselves (leaves). The last owner cannot leave (409)."""
    membership.remove(access.member_of(request.user, team_id, member_id, or_self=True))
    return Status(204, None)


# --- Invitations -------------------------------------------------------------------------------------


@router.get("/teams/{team_id}/invites", response=answers({200: list[InviteOut]}, 403, 404), tags=["teams"])
def list_invites(request, team_id: str):
    return [_invite(i) for i in access.team_for(request.user, team_id, manage=True).invites.usable()]


@router.post("/teams/{team_id}/invites", response=answers({201: InviteCreatedOut}, 400, 403, 404), tags=["teams"])
def create_invite(request, team_id: str, body: InviteIn):
    team = access.team_for(request.user, team_id, manage=True)
    invite, raw = membership.invite(team, request.user, body.role, body.expires_in_days)
    url = request.build_absolute_uri(reverse("team-join", args=[raw]))
    return Status(201, {**_invite(invite), "token": raw, "url": url})


@router.delete("/teams/{team_id}/invites/{invite_id}", response=answers({204: None}, 403, 404), tags=["teams"])
def revoke_invite(request, team_id: str, invite_id: str):
    membership.revoke_invite(access.invite_of(request.user, team_id, invite_id))
    return Status(204, None)


@router.post("/invites/{token}/accept", response=answers({200: AcceptOut}, 404), tags=["teams"])
def accept_invite(request, token: str):
    joined_as, joined = membership.accept(request.user, token)
    return {"team": _team(joined_as), "joined": joined}


# --- Canvases: moving, share links ------------------------------------------------------------------


@router.post("/canvases/{canvas_id}/move", response=answers({200: CanvasOut}, 400, 403, 404), tags=["canvases"])
def move_canvas(request, canvas_id: str, body: MoveIn):
    """An owner of the canvas's team, who is an owner or editor in the target team."""
    canvas, team = access.canvas_to_move(request.user, canvas_id, body.team)
    return canvas_payload(membership.move_canvas(canvas, team))


@router.get(
    "/canvases/{canvas_id}/share-links", response=answers({200: list[ShareLinkOut]}, 403, 404), tags=["sharing"]
)
def list_share_links(request, canvas_id: str):
    canvas = access.canvas_for(request.user, canvas_id, write=True)
    return [sharing.link_payload(link) for link in canvas.share_links.all()]


@router.post(
    "/canvases/{canvas_id}/share-links", response=answers({201: ShareLinkCreatedOut}, 400, 403, 404), tags=["sharing"]
)
def create_share_link(request, canvas_id: str, body: ShareLinkIn):
    """A read-only link to this canvas: its page and its live events, nothing else."""
    canvas = access.canvas_for(request.user, canvas_id, write=True)
    link, raw = sharing.create(canvas, request.user, body.name, body.expires_in_days)
    return Status(201, {**sharing.link_payload(link), "token": raw, "url": sharing.share_url(request, raw)})


@router.delete("/canvases/{canvas_id}/share-links/{link_id}", response=answers({204: None}, 403, 404), tags=["sharing"])
def revoke_share_link(request, canvas_id: str, link_id: str):
    sharing.revoke(access.share_link_of(request.user, canvas_id, link_id))
    return Status(204, None)


# --- Comments ----------------------------------------------------------------------------------------


@router.get("/nodes/{node_id}/comments", response=answers({200: list[CommentOut]}, 404), tags=["comments"])
def list_comments(request, node_id: str):
    return comments.for_node(access.node_for(request.user, node_id))


@router.post("/nodes/{node_id}/comments", response=answers({201: CommentOut}, 400, 404), tags=["comments"])
def create_comment(request, node_id: str, body: CommentIn):
    """Any member may comment, viewers included; everyone on the canvas gets `comment.created`."""
    node = access.node_for(request.user, node_id)  # viewers may comment too
    comment = comments.create(node, request.user, body.text)
    comments.announce(node.canvas_id, comments.created_event(comment))
    return Status(201, comments.comment_payload(comment))


@router.delete("/comments/{comment_id}", response=answers({204: None}, 403, 404), tags=["comments"])
def delete_comment(request, comment_id: str):
    """Its author, or an owner of the canvas's team."""
    comment = access.comment_for(request.user, comment_id, delete=True)
    comments.announce(comment.node.canvas_id, comments.deleted_event(comment))
    comment.delete()
    return Status(204, None)
