"""Share links: a read-only window on one canvas, live, for whoever holds the link — and nothing else.
The WebSocket side (a revoked link's open socket is closed) is in tests/test_live_collab.py."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken
from canvas.models import Canvas, Membership, Node, NodeKind, Role, ShareLink, Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def note(alice_canvas, alice) -> Node:
    return Node.objects.create(canvas=alice_canvas, kind=NodeKind.NOTE, text="The plan, in brief", created_by=alice)


def share(client: Client, canvas, **body) -> dict:
    response = client.post(f"/api/canvases/{canvas.id}/share-links", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_share_link_shows_the_canvas_read_only(alice_client, alice_canvas, note):
    made = share(alice_client, alice_canvas)

    response = Client().get(f"/s/{made['token']}/")

    assert response.status_code == 200
    assert b"The plan, in brief" in response.content
    assert response.context["can_write"] is False and response.context["guest"] is True
    assert b'id="prompt-form"' not in response.content


def test_the_token_is_unguessable_and_stored_only_as_a_digest(alice_client, alice_canvas):
    made = share(alice_client, alice_canvas)

    stored = ShareLink.objects.get(pk=made["id"])
    assert len(made["token"]) >= 43
    assert stored.digest == hashlib.sha256(made["token"].encode()).hexdigest()
    assert all(made["token"] not in str(v) for v in ShareLink.objects.filter(pk=stored.pk).values().get().values())
    listed = alice_client.get(f"/api/canvases/{alice_canvas.id}/share-links").json()
    assert made["token"] not in json.dumps(listed) and listed[0]["hint"] == made["token"][:6]


def test_a_revoked_link_opens_nothing(alice_client, alice_canvas):
    made = share(alice_client, alice_canvas)

    alice_client.delete(f"/api/canvases/{alice_canvas.id}/share-links/{made['id']}")

    assert Client().get(f"/s/{made['token']}/").status_code == 404


def test_an_expired_link_opens_nothing(alice_client, alice_canvas):
    made = share(alice_client, alice_canvas, expires_in_days=1)
    assert Client().get(f"/s/{made['token']}/").status_code == 200

    ShareLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert Client().get(f"/s/{made['token']}/").status_code == 404


def test_the_holder_gets_no_api_and_no_other_page(alice_client, alice, alice_canvas, note):
    made = share(alice_client, alice_canvas)
    other = Canvas.objects.create(team=alice_canvas.team, title="Other", created_by=alice)
    guest = Client()
    guest.get(f"/s/{made['token']}/")

    assert guest.get(f"/api/canvases/{alice_canvas.id}").status_code == 401
    assert guest.get(f"/api/canvases/{alice_canvas.id}/export").status_code == 401
    assert guest.get(f"/api/nodes/{note.id}/comments").status_code == 401
    assert (
        guest.post(f"/api/canvases/{alice_canvas.id}/notes", "{}", content_type="application/json").status_code == 401
    )
    assert guest.get(f"/canvases/{alice_canvas.id}/")["Location"].startswith("/accounts/login/")
    assert guest.get(f"/canvases/{other.id}/")["Location"].startswith("/accounts/login/")


def test_the_token_in_the_bearer_header_is_no_api_token(alice_client, alice_canvas):
    made = share(alice_client, alice_canvas)

    response = Client(headers={"authorization": f"Bearer {made['token']}"}).get("/api/canvases")

    assert response.status_code == 401
    assert not ApiToken.objects.filter(hint=made["token"][:10]).exists()


def test_the_shared_page_is_kept_out_of_caches_and_search_engines(alice_client, alice_canvas):
    made = share(alice_client, alice_canvas)

    response = Client().get(f"/s/{made['token']}/")

    assert response["Cache-Control"] == "no-store, private"
    assert "noindex" in response["X-Robots-Tag"]


def test_the_sharing_page_shows_a_new_link_once(alice_client, alice_canvas):
    created = alice_client.post(f"/canvases/{alice_canvas.id}/sharing/", {"name": "For Zoe", "expires_in_days": "3"})

    assert created.status_code == 201
    url = created.context["new_url"]
    assert "/s/" in url and url.encode() in created.content
    assert url.encode() not in alice_client.get(f"/canvases/{alice_canvas.id}/sharing/").content
    link = ShareLink.objects.get()
    assert link.name == "For Zoe" and link.expires_at is not None


@pytest.mark.parametrize("days", ["9999", "0", "soon"])
def test_a_wrong_expiry_is_refused_clearly(alice_client, alice_canvas, days):
    response = alice_client.post(f"/canvases/{alice_canvas.id}/sharing/", {"expires_in_days": days})

    assert response.status_code == 400
    assert b"Expiry must be between 1 and 365 days" in response.content
    assert not ShareLink.objects.exists()


# --- rights follow people ------------------------------------------------------------------------


@pytest.fixture
def dave(django_user_model, alice_canvas):
    """An editor in alice's team, who may make share links of its canvases."""
    user = django_user_model.objects.create_user("dave", password="dave-password-1")
    Membership.objects.create(team=alice_canvas.team, user=user, role=Role.EDITOR)
    return user


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def opens(made: dict) -> bool:
    return Client().get(f"/s/{made['token']}/").status_code == 200


def test_a_link_stops_when_its_maker_may_no_longer_change_the_canvas(alice_client, alice_canvas, dave):
    daves, alices = share(signed_in(dave), alice_canvas), share(alice_client, alice_canvas)
    key = Membership.objects.get(user=dave, team=alice_canvas.team).key

    demoted = alice_client.patch(f"/api/teams/{alice_canvas.team_id}/members/{key}", json.dumps({"role": "viewer"}),
                                 content_type="application/json")  # fmt: skip

    assert demoted.status_code == 200
    assert not opens(daves) and opens(alices)
    listed = {
        link["id"]: link["active"] for link in alice_client.get(f"/api/canvases/{alice_canvas.id}/share-links").json()
    }
    assert listed == {daves["id"]: False, alices["id"]: True}
    # Made an editor again: the link stays revoked.
    Membership.objects.filter(user=dave).exclude(team__personal=True).update(role=Role.EDITOR)
    assert not opens(daves)


def test_a_link_stops_when_its_maker_leaves_the_team(alice_canvas, dave):
    made = share(signed_in(dave), alice_canvas)
    key = Membership.objects.get(user=dave, team=alice_canvas.team).key

    assert signed_in(dave).delete(f"/api/teams/{alice_canvas.team_id}/members/{key}").status_code == 204

    assert not opens(made)


def test_a_link_stops_when_its_makers_account_is_closed(alice_canvas, dave, django_user_model):
    made, other = share(signed_in(dave), alice_canvas), share(signed_in(dave), alice_canvas)

    django_user_model.objects.filter(pk=dave.pk).update(is_active=False)
    assert not opens(made)
    django_user_model.objects.filter(pk=dave.pk).delete()
    assert not opens(other)


def test_a_moved_canvas_keeps_only_the_links_of_people_who_may_change_it_there(alice, alice_client, alice_canvas, dave):
    daves, alices = share(signed_in(dave), alice_canvas), share(alice_client, alice_canvas)
    lab = Team.objects.create(name="Lab")
    Membership.objects.create(team=lab, user=alice, role=Role.OWNER)

    moved = alice_client.post(f"/api/canvases/{alice_canvas.id}/move", json.dumps({"team": str(lab.id)}),
                              content_type="application/json")  # fmt: skip

    assert moved.status_code == 200
    assert not opens(daves) and opens(alices)
