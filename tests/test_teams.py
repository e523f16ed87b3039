"""Teams: creating one, inviting by link with a role, changing roles, removing members, leaving, and
moving a canvas between teams. Who may call what is tests/test_access_matrix.py; this is what happens."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from canvas.models import Canvas, Invite, Membership, Role, Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-password-1", email="bob@example.com")


@pytest.fixture
def team(alice):
    team = Team.objects.create(name="Research")
    Membership.objects.create(team=team, user=alice, role=Role.OWNER)
    return team


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def call(client: Client, method: str, path: str, body: dict | None = None):
    kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
    return client.generic(method, path, **kwargs)


def invite(owner, team: Team, role: str = "viewer", **extra) -> dict:
    response = call(signed_in(owner), "POST", f"/api/teams/{team.id}/invites", {"role": role, **extra})
    assert response.status_code == 201, response.content
    return response.json()


def member_key(team: Team, user) -> str:
    return str(Membership.objects.get(team=team, user=user).key)


# --- creating and inviting ---------------------------------------------------------------------------


def test_whoever_creates_a_team_owns_it(alice):
    response = signed_in(alice).post("/teams/", {"name": "Lab"})

    team = Team.objects.get(name="Lab")
    assert response.status_code == 302 and response["Location"] == f"/teams/{team.id}/"
    assert Membership.objects.get(team=team).role == Role.OWNER


def test_an_invitation_adds_a_member_with_the_role_the_owner_chose(alice, bob, team):
    made = invite(alice, team, role="editor")

    response = call(signed_in(bob), "POST", f"/api/invites/{made['token']}/accept")

    assert response.status_code == 200
    assert response.json()["joined"] is True and response.json()["team"]["role"] == "editor"
    assert Membership.objects.get(team=team, user=bob).role == Role.EDITOR


def test_the_invitation_link_opens_a_page_to_join(alice, bob, team):
    made = invite(alice, team)
    assert made["url"].endswith(f"/teams/join/{made['token']}/")
    page = signed_in(bob)

    assert b"Join Research" in page.get(f"/teams/join/{made['token']}/").content
    response = page.post(f"/teams/join/{made['token']}/")

    assert response["Location"] == f"/teams/{team.id}/"
    assert Membership.objects.get(team=team, user=bob).role == Role.VIEWER


def test_someone_signed_out_is_sent_to_sign_in_and_back(alice, team):
    made = invite(alice, team)

    response = Client().get(f"/teams/join/{made['token']}/")

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next=/teams/join/{made['token']}/"


def test_an_invitation_works_once(alice, bob, charlie, team):
    made = invite(alice, team)
    call(signed_in(bob), "POST", f"/api/invites/{made['token']}/accept")

    response = call(signed_in(charlie), "POST", f"/api/invites/{made['token']}/accept")

    assert response.status_code == 404
    assert not Membership.objects.filter(team=team, user=charlie).exists()


def test_an_expired_invitation_is_refused(alice, bob, team):
    made = invite(alice, team, expires_in_days=1)
    Invite.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert call(signed_in(bob), "POST", f"/api/invites/{made['token']}/accept").status_code == 404


def test_a_revoked_invitation_is_refused(alice, bob, team):
    made = invite(alice, team)
    assert call(signed_in(alice), "DELETE", f"/api/teams/{team.id}/invites/{made['id']}").status_code == 204

    assert call(signed_in(bob), "POST", f"/api/invites/{made['token']}/accept").status_code == 404


def test_only_the_invitations_digest_is_stored(alice, team):
    made = invite(alice, team)

    stored = Invite.objects.get(pk=made["id"])
    assert stored.digest == hashlib.sha256(made["token"].encode()).hexdigest()
    assert all(made["token"] not in str(value) for value in Invite.objects.filter(pk=stored.pk).values().get().values())
    assert len(made["token"]) >= 43  # 32 random bytes


def test_the_invitation_link_is_shown_once(alice, team):
    page = signed_in(alice)

    made = page.post(f"/teams/{team.id}/invites", {"role": "viewer", "expires_in_days": "7"})

    assert made.status_code == 201
    url = made.context["invite_url"]
    assert url.encode() in made.content
    assert url.encode() not in page.get(f"/teams/{team.id}/").content


@pytest.mark.parametrize("days", ["400", "-2", "a week"])
def test_an_invitation_with_a_wrong_expiry_is_refused_clearly(alice, team, days):
    page = signed_in(alice)
    response = page.post(f"/teams/{team.id}/invites", {"role": "viewer", "expires_in_days": days}, follow=True)

    assert response.redirect_chain == [(f"/teams/{team.id}/", 302)]
    assert b"Expiry must be between 1 and 365 days" in response.content
    assert not Invite.objects.filter(team=team).exists()


def test_a_member_accepting_again_keeps_their_role(alice, team):
    made = invite(alice, team, role="viewer")

    response = call(signed_in(alice), "POST", f"/api/invites/{made['token']}/accept")

    assert response.json()["joined"] is False
    assert Membership.objects.get(team=team, user=alice).role == Role.OWNER
    assert Invite.objects.usable().filter(pk=made["id"]).exists()


def test_the_team_shows_names_and_roles_but_no_emails(alice, bob, team):
    Membership.objects.create(team=team, user=bob, role=Role.VIEWER)

    api = call(signed_in(bob), "GET", f"/api/teams/{team.id}").json()
    page = signed_in(bob).get(f"/teams/{team.id}/").content

    assert {(m["username"], m["role"]) for m in api["members"]} == {("alice", "owner"), ("bob", "viewer")}
    assert b"bob@example.com" not in page and "bob@example.com" not in json.dumps(api)


# --- roles, removing, leaving ------------------------------------------------------------------------


def test_an_owner_changes_a_members_role(alice, bob, team):
    Membership.objects.create(team=team, user=bob, role=Role.VIEWER)

    response = call(signed_in(alice), "PATCH", f"/api/teams/{team.id}/members/{member_key(team, bob)}",
                    {"role": "editor"})  # fmt: skip

    assert response.json()["role"] == "editor"
    assert Membership.objects.get(team=team, user=bob).role == Role.EDITOR


def test_the_last_owner_cannot_be_demoted(alice, team):
    response = call(signed_in(alice), "PATCH", f"/api/teams/{team.id}/members/{member_key(team, alice)}",
                    {"role": "editor"})  # fmt: skip

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "last_owner",
        "message": "A team needs an owner: make someone else an owner first.",
    }
    assert Membership.objects.get(team=team, user=alice).role == Role.OWNER


def test_the_last_owner_cannot_leave_and_is_told_why(alice, team):
    page = signed_in(alice)

    response = page.post(f"/teams/{team.id}/leave", follow=True)

    assert b"A team needs an owner: make someone else an owner first." in response.content
    assert Membership.objects.filter(team=team, user=alice, role=Role.OWNER).exists()


def test_an_owner_may_leave_once_there_is_another(alice, bob, team):
    Membership.objects.create(team=team, user=bob, role=Role.OWNER)

    response = signed_in(alice).post(f"/teams/{team.id}/leave")

    assert response["Location"] == "/teams/"
    assert list(team.memberships.values_list("user__username", flat=True)) == ["bob"]


def test_a_removed_member_no_longer_sees_the_teams_canvases(alice, bob, team):
    Membership.objects.create(team=team, user=bob, role=Role.EDITOR)
    canvas = Canvas.objects.create(team=team, title="Plans", created_by=alice)
    assert call(signed_in(bob), "GET", f"/api/canvases/{canvas.id}").status_code == 200

    response = signed_in(alice).post(f"/teams/{team.id}/members/{member_key(team, bob)}/remove")

    assert response.status_code == 302
    assert call(signed_in(bob), "GET", f"/api/canvases/{canvas.id}").status_code == 404


# --- moving canvases ---------------------------------------------------------------------------------


def test_moving_a_canvas_takes_write_access_in_both_teams(alice, bob, team):
    """Bob edits in Research and only views in alice's personal team: he may not move a canvas there."""
    Membership.objects.create(team=team, user=bob, role=Role.EDITOR)
    Membership.objects.create(team=alice.teams.get(personal=True), user=bob, role=Role.VIEWER)
    canvas = Canvas.objects.create(team=team, title="Plans", created_by=alice)
    target = alice.teams.get(personal=True)

    refused = call(signed_in(bob), "POST", f"/api/canvases/{canvas.id}/move", {"team": str(target.id)})
    moved = call(signed_in(alice), "POST", f"/api/canvases/{canvas.id}/move", {"team": str(target.id)})

    assert refused.status_code == 403
    assert moved.status_code == 200 and moved.json()["team"] == str(target.id)
    assert Canvas.objects.get(pk=canvas.id).team == target


def test_a_moved_canvas_leaves_the_old_teams_members(alice, bob, team):
    Membership.objects.create(team=team, user=bob, role=Role.VIEWER)
    canvas = Canvas.objects.create(team=team, title="Plans", created_by=alice)

    signed_in(alice).post(f"/canvases/{canvas.id}/move", {"team": str(alice.teams.get(personal=True).id)})

    assert call(signed_in(bob), "GET", f"/api/canvases/{canvas.id}").status_code == 404


def test_no_api_field_sets_a_canvas_team_or_a_role(alice, bob, team):
    Membership.objects.create(team=team, user=bob, role=Role.VIEWER)
    canvas = Canvas.objects.create(team=team, title="Plans", created_by=alice)

    made = call(signed_in(bob), "POST", "/api/teams", {"name": "Mine", "role": "viewer", "members": ["alice"]})
    patched = call(signed_in(alice), "PATCH", f"/api/canvases/{canvas.id}", {"team": str(bob.teams.first().id)})

    assert made.status_code == 201
    assert patched.status_code in (200, 400)  # PATCH edits title, system prompt and blind only: moving is its own call
    assert list(Membership.objects.filter(team_id=made.json()["id"]).values_list("user__username", "role")) == [
        ("bob", "owner")
    ]
    assert Canvas.objects.get(pk=canvas.id).team == team


# --- rights follow people ------------------------------------------------------------------------


def test_an_invitation_stops_when_its_maker_is_no_longer_an_owner(alice, bob, charlie, team):
    Membership.objects.create(team=team, user=bob, role=Role.OWNER)
    bobs, alices = invite(bob, team), invite(alice, team)

    demoted = call(signed_in(alice), "PATCH", f"/api/teams/{team.id}/members/{member_key(team, bob)}",
                   {"role": "editor"})  # fmt: skip

    assert demoted.status_code == 200
    assert call(signed_in(charlie), "POST", f"/api/invites/{bobs['token']}/accept").status_code == 404
    assert call(signed_in(charlie), "POST", f"/api/invites/{alices['token']}/accept").status_code == 200


def test_an_invitation_stops_when_its_maker_is_removed(alice, bob, charlie, team):
    Membership.objects.create(team=team, user=bob, role=Role.OWNER)
    made = invite(bob, team, role="editor")

    assert call(signed_in(alice), "DELETE", f"/api/teams/{team.id}/members/{member_key(team, bob)}").status_code == 204

    assert call(signed_in(charlie), "POST", f"/api/invites/{made['token']}/accept").status_code == 404
    assert signed_in(charlie).get(f"/teams/join/{made['token']}/").status_code == 404


def test_an_invitation_to_be_an_owner_always_expires(alice, team):
    made = invite(alice, team, role="owner", expires_in_days=None)
    by_page = signed_in(alice).post(f"/teams/{team.id}/invites", {"role": "owner", "expires_in_days": ""})
    too_long = call(signed_in(alice), "POST", f"/api/teams/{team.id}/invites", {"role": "owner", "expires_in_days": 30})
    viewer = invite(alice, team, role="viewer", expires_in_days=None)

    week = timezone.now() + timedelta(days=7)
    assert abs(Invite.objects.get(pk=made["id"]).expires_at - week) < timedelta(minutes=1)
    assert by_page.status_code == 201
    assert all(i.expires_at is not None for i in Invite.objects.filter(role=Role.OWNER))
    assert too_long.status_code == 400 and "within 7 days" in too_long.json()["error"]["message"]
    assert viewer["expires_at"] is None


def test_only_an_owner_of_the_canvas_team_may_move_it_out(alice, bob, team):
    """Bob edits in Research and owns a team of his own: still, only Research's owners move its canvases."""
    Membership.objects.create(team=team, user=bob, role=Role.EDITOR)
    canvas = Canvas.objects.create(team=team, title="Plans", created_by=alice)
    own = bob.teams.get(personal=True)

    refused = call(signed_in(bob), "POST", f"/api/canvases/{canvas.id}/move", {"team": str(own.id)})
    by_page = signed_in(bob).post(f"/canvases/{canvas.id}/move", {"team": str(own.id)})
    sharing = signed_in(bob).get(f"/canvases/{canvas.id}/sharing/")

    assert refused.status_code == 403 and "Only an owner" in refused.json()["error"]["message"]
    assert by_page.status_code == 403
    assert Canvas.objects.get(pk=canvas.id).team == team
    assert sharing.status_code == 200 and list(sharing.context["teams"]) == []
