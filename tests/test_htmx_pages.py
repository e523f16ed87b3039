"""The teams, sharing and tokens pages are htmx partials: their forms post with hx-post and get back the
part of the page they change, rendered from the page's own template; without htmx (no JavaScript) the same
forms post and redirect as before (tests/test_teams.py, test_share_links.py, test_accounts_pages.py)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import ApiToken
from canvas.models import Membership, Role, ShareLink

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def partial(response, section: str) -> str:
    """The partial's HTML, checked to be the section alone and not a whole page."""
    html = response.content.decode()
    assert html.lstrip().startswith(f'<section class="card" id="{section}">'), html[:200]
    assert "<html" not in html and "htmx.min.js" not in html
    return html


def test_a_token_made_and_revoked_swaps_the_tokens_section(alice_client, alice):
    made = alice_client.post("/accounts/tokens/", {"name": "ci"}, **HTMX)
    assert made.status_code == 201
    html = partial(made, "tokens")
    token = ApiToken.objects.get(user=alice)
    assert 'aria-label="New token"' in html and f'data-id="{token.id}"' in html

    revoked = alice_client.post(f"/accounts/tokens/{token.id}/revoke", **HTMX)
    assert revoked.status_code == 200
    assert f'data-id="{token.id}"' not in partial(revoked, "tokens")
    assert ApiToken.objects.active().count() == 0


def test_a_refused_token_name_swaps_in_with_its_error(alice_client):
    refused = alice_client.post("/accounts/tokens/", {"name": ""}, **HTMX)
    assert refused.status_code == 400
    assert 'class="error"' in partial(refused, "tokens")


def test_the_team_page_changes_in_place(alice_client, alice_team, charlie):
    member = Membership.objects.create(team=alice_team, user=charlie, role=Role.VIEWER)
    base = f"/teams/{alice_team.id}"

    changed = alice_client.post(f"{base}/members/{member.key}/role", {"role": "editor"}, **HTMX)
    assert changed.status_code == 200
    assert "charlie is now editor." in partial(changed, "team")

    invited = alice_client.post(f"{base}/invites", {"role": "viewer", "expires_in_days": "7"}, **HTMX)
    assert invited.status_code == 201
    assert 'aria-label="Invitation link"' in partial(invited, "team")

    removed = alice_client.post(f"{base}/members/{member.key}/remove", **HTMX)
    html = partial(removed, "team")
    assert "charlie is no longer in" in html and 'data-username="charlie"' not in html


def test_leaving_a_team_loads_the_teams_page_whole(alice, alice_team, charlie):
    Membership.objects.create(team=alice_team, user=charlie, role=Role.VIEWER)
    client = Client()
    client.force_login(charlie)
    left = client.post(f"/teams/{alice_team.id}/leave", **HTMX)
    assert left.status_code == 200 and left["HX-Redirect"] == "/teams/"


def test_a_new_team_opens_its_page_and_a_refused_one_says_why(alice_client, alice):
    made = alice_client.post("/teams/", {"name": "Research"}, **HTMX)
    team = alice.teams.get(name="Research")
    assert made["HX-Redirect"] == f"/teams/{team.id}/"

    refused = alice_client.post("/teams/", {"name": "  "}, **HTMX)
    assert 'class="message error"' in partial(refused, "teams")


def test_share_links_are_made_and_revoked_in_place(alice_client, alice_canvas):
    base = f"/canvases/{alice_canvas.id}/sharing"
    made = alice_client.post(f"{base}/", {"name": "for Bob"}, **HTMX)
    assert made.status_code == 201
    assert 'aria-label="Share link"' in partial(made, "sharing")

    link = ShareLink.objects.get(canvas=alice_canvas)
    revoked = alice_client.post(f"{base}/{link.id}/revoke", **HTMX)
    assert revoked.status_code == 200
    assert "revoked" in partial(revoked, "sharing")


def test_htmx_is_loaded_only_by_the_pages_that_use_it(alice_client, alice_canvas):
    for path in ("/", "/accounts/tokens/", "/teams/", f"/canvases/{alice_canvas.id}/sharing/"):
        assert "htmx.min.js" in alice_client.get(path).content.decode(), path
    for path in (f"/canvases/{alice_canvas.id}/", "/accounts/"):
        assert "htmx.min.js" not in alice_client.get(path).content.decode(), path
