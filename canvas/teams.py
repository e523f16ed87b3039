"""Team pages under /teams/: create a team, invite by link, change roles, remove members, leave, and move
a canvas between teams. Thin: access through canvas.access, rules in canvas.membership."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.pages import go_to, render_page
from canvas import access, membership
from canvas.errors import ApiError
from canvas.models import Role
from usage import present as usage_present


@login_required
@require_http_methods(["GET", "POST"])
def team_list(request):
    if request.method == "POST":
        try:
            team = membership.create_team(request.user, request.POST.get("name", ""))
        except ApiError as exc:
            messages.error(request, exc.message)
            return _team_list(request) if request.htmx else redirect("team-list")
        return go_to(request, "team-detail", team_id=team.id)
    return _team_list(request)


def _team_list(request):
    memberships = request.user.memberships.select_related("team").order_by("team__personal", "team__name")
    return render_page(request, "teams/list.html", {"memberships": memberships})


@login_required
@require_GET
def team_detail(request, team_id):
    return _team_page(request, access.membership_for(request.user, team_id))


def _team_page(request, mine, status: int = 200, invite_url: str | None = None):
    team = mine.team
    context = {
        "team": team,
        "mine": mine,
        "is_owner": mine.role == Role.OWNER,
        "members": team.memberships.select_related("user").order_by("user__username"),
        "invites": team.invites.usable() if mine.role == Role.OWNER else [],
        "canvases": team.canvases.filter(deleted_at__isnull=True),
        "roles": Role.choices,
        "invite_url": invite_url,
        "owner_invite_days": membership.OWNER_INVITE_DAYS,
        "budgets": usage_present.team_budgets(mine),
    }
    return render_page(request, "teams/detail.html", context, status=status)


def _back_to_team(request, team_id):
    """After a change on a team's page: the page again (a redirect), or for htmx its partial."""
    if request.htmx:
        return _team_page(request, access.membership_for(request.user, team_id))
    return redirect("team-detail", team_id=team_id)


@login_required
@require_POST
def invite_create(request, team_id):
    mine = access.membership_for(request.user, team_id, manage=True)
    team = mine.team
    try:
        _, raw = membership.invite(
            team,
            request.user,
            request.POST.get("role", ""),
            membership.days_from_form(request.POST.get("expires_in_days")),
        )
    except ApiError as exc:
        messages.error(request, exc.message)
        return _back_to_team(request, team.id)
    url = request.build_absolute_uri(reverse("team-join", args=[raw]))
    # Shown once, on this response: only the invitation's digest is kept.
    return _team_page(request, mine, status=201, invite_url=url)


@login_required
@require_POST
def invite_revoke(request, team_id, invite_id):
    membership.revoke_invite(access.invite_of(request.user, team_id, invite_id))
    messages.success(request, "The invitation no longer works.")
    return _back_to_team(request, team_id)


@login_required
@require_http_methods(["GET", "POST"])
def team_join(request, token):
    invite = membership.invite_for_token(token)
    if request.method == "GET":
        return render(request, "teams/join.html", {"invite": invite})
    joined_as, joined = membership.accept(request.user, token)
    if joined:
        messages.success(request, f"You joined {invite.team.name} as {joined_as.get_role_display().lower()}.")
    else:
        messages.info(request, f"You are already in {invite.team.name}; your role is unchanged.")
    return redirect("team-detail", team_id=invite.team_id)


@login_required
@require_POST
def member_role(request, team_id, member_id):
    target = access.member_of(request.user, team_id, member_id)
    try:
        membership.change_role(target, request.POST.get("role", ""))
    except ApiError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{access.display_name(target.user)} is now {target.get_role_display().lower()}.")
    return _back_to_team(request, team_id)


@login_required
@require_POST
def member_remove(request, team_id, member_id):
    """An owner removes a member; anyone removes themselves (that is leaving)."""
    target = access.member_of(request.user, team_id, member_id, or_self=True)
    return _remove(request, target)


@login_required
@require_POST
def team_leave(request, team_id):
    return _remove(request, access.membership_for(request.user, team_id))


def _remove(request, target):
    try:
        membership.remove(target)
    except ApiError as exc:
        messages.error(request, exc.message)
        return _back_to_team(request, target.team_id)
    if target.user_id == request.user.pk:
        messages.success(request, f"You left {target.team.name}.")
        return go_to(request, "team-list")
    messages.success(request, f"{access.display_name(target.user)} is no longer in {target.team.name}.")
    return _back_to_team(request, target.team_id)


@login_required
@require_POST
def canvas_move(request, canvas_id):
    canvas, team = access.canvas_to_move(request.user, canvas_id, request.POST.get("team"))
    membership.move_canvas(canvas, team)
    messages.success(request, f"Moved to {team.name}.")
    return redirect("canvas-detail", canvas_id=canvas.id)
