"""Per-person quotas on canvases, teams, invitations and share links: past one, a clear refusal (a 403
`quota` JSON error in the API, a message on pages), and nothing is made."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from canvas.models import Canvas, Invite, ShareLink, Team

pytestmark = pytest.mark.django_db


def post(client: Client, path: str, body: dict):
    return client.post(path, json.dumps(body), content_type="application/json")


def assert_quota(response, words: str) -> None:
    assert response.status_code == 403, response.content
    error = response.json()["error"]
    assert error["code"] == "quota" and words in error["message"], error


def test_canvases(settings, api, alice):
    settings.PRISM_MAX_CANVASES_PER_USER = 2
    assert post(api, "/api/canvases", {"title": "one"}).status_code == 201
    assert post(api, "/api/canvases", {"title": "two"}).status_code == 201

    assert_quota(post(api, "/api/canvases", {"title": "three"}), "limit of 2 canvases")
    imported = post(api, "/api/canvases/import", {"format": "prism.canvas", "version": 1, "canvas": {"title": "x"}})
    assert imported.status_code in (400, 403)
    page = Client()
    page.force_login(alice)
    refused = page.post("/canvases/new", {"title": "four"}, follow=True)
    assert "You have reached the limit of 2 canvases" in refused.content.decode()
    assert Canvas.objects.filter(created_by=alice).count() == 2


def test_teams(settings, api, alice):
    settings.PRISM_MAX_TEAMS_PER_USER = 1
    assert post(api, "/api/teams", {"name": "Lab"}).status_code == 201

    assert_quota(post(api, "/api/teams", {"name": "Lab 2"}), "limit of 1 teams you own")
    page = Client()
    page.force_login(alice)
    refused = page.post("/teams/", {"name": "Lab 3"}, follow=True)
    assert "You have reached the limit of 1 teams you own" in refused.content.decode()
    assert Team.objects.filter(personal=False).count() == 1


def test_invitations(settings, api):
    settings.PRISM_MAX_INVITES_PER_USER = 1
    team = post(api, "/api/teams", {"name": "Lab"}).json()
    path = f"/api/teams/{team['id']}/invites"
    assert post(api, path, {"role": "editor"}).status_code == 201

    assert_quota(post(api, path, {"role": "editor"}), "limit of 1 open invitations")
    assert Invite.objects.count() == 1


def test_share_links(settings, api, alice_canvas):
    settings.PRISM_MAX_SHARE_LINKS_PER_USER = 1
    path = f"/api/canvases/{alice_canvas.id}/share-links"
    made = post(api, path, {})
    assert made.status_code == 201

    assert_quota(post(api, path, {}), "limit of 1 active share links")
    assert api.delete(f"{path}/{made.json()['id']}").status_code == 204
    assert post(api, path, {}).status_code == 201  # a revoked link no longer counts
    assert ShareLink.objects.count() == 2
