"""Smaller points of the public contract: a running response read over the API shows what has streamed
so far; the context preview's messages are those the model's protocol sends; a share link that no
longer works says why; money in messages has the digits that make it true."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django.utils import timezone

from canvas.models import Node, NodeKind, NodeStatus, ShareLink
from engine.live import live_store
from providers.adapters.anthropic import OPENING_TURN
from providers.models import Model, ProviderAccount

pytestmark = pytest.mark.django_db


def post(client: Client, path: str, body: dict):
    return client.post(path, json.dumps(body), content_type="application/json")


@pytest.fixture
def sim_model(db) -> Model:
    account = ProviderAccount.objects.create(name="Quiet", kind="simulator", base_url="http://127.0.0.1:9/v1")
    return Model.objects.create(account=account, name="sim-swift", display_name="Swift")


# --- a running response over the API -------------------------------------------------------------------


@pytest.fixture
def streaming(alice, alice_canvas, sim_model):
    """A response mid-stream: saved at delta 1, while its live state is at delta 3."""
    node = Node.objects.create(
        canvas=alice_canvas,
        kind=NodeKind.RESPONSE,
        model=sim_model,
        status=NodeStatus.STREAMING,
        text="Ray",
        seq=1,
        created_by=alice,
    )
    store = live_store()
    for seq, text, reasoning in [(1, "Ray", ""), (2, "leigh", "short "), (3, " scattering", "waves")]:
        async_to_sync(store.append)(str(node.id), seq, text, reasoning)
    yield node
    async_to_sync(store.clear)(str(node.id))


def test_a_running_response_read_over_the_api_has_the_text_streamed_so_far(api, streaming):
    body = api.get(f"/api/nodes/{streaming.id}").json()

    assert (body["text"], body["reasoning"], body["seq"], body["status"]) == (
        "Rayleigh scattering",
        "short waves",
        3,
        "streaming",
    )


def test_a_finished_response_read_over_the_api_is_what_was_stored(api, streaming):
    Node.objects.filter(pk=streaming.pk).update(status=NodeStatus.DONE, text="Rayleigh scattering.", seq=4)

    body = api.get(f"/api/nodes/{streaming.id}").json()

    assert (body["text"], body["seq"], body["status"]) == ("Rayleigh scattering.", 4, "done")


# --- the context preview -------------------------------------------------------------------------------


def test_the_preview_shows_the_opening_turn_anthropic_is_sent_before_an_answer(api, alice, alice_canvas):
    account = ProviderAccount.objects.create(name="Claude", kind="anthropic")
    claude = Model.objects.create(account=account, name="claude-test", display_name="Claude")
    answer = Node.objects.create(
        canvas=alice_canvas, kind=NodeKind.RESPONSE, status=NodeStatus.DONE, text="An answer.", created_by=alice
    )
    note = Node.objects.create(canvas=alice_canvas, kind=NodeKind.NOTE, text="A note.", created_by=alice)

    body = post(
        api,
        f"/api/canvases/{alice_canvas.id}/context",
        {"text": "And so?", "parents": [str(answer.id), str(note.id)], "model": str(claude.id)},
    ).json()

    assert body["messages"] == [
        {"role": "user", "content": OPENING_TURN},
        {"role": "assistant", "content": "An answer."},
        {"role": "user", "content": "A note.\n\nAnd so?"},
    ]
    assert body["messages"] == body["wire"]["messages"]


# --- share links that no longer work -------------------------------------------------------------------


@pytest.fixture
def link(alice, alice_canvas) -> tuple[ShareLink, str]:
    return ShareLink.issue(alice_canvas, alice, "For Bob")


def test_a_revoked_share_link_says_it_was_revoked(link, alice_canvas):
    made, token = link
    ShareLink.objects.filter(pk=made.pk).update(revoked_at=timezone.now())

    response = Client().get(f"/s/{token}/")

    assert response.status_code == 404
    assert b"was revoked" in response.content
    assert alice_canvas.title.encode() not in response.content
    assert response["Cache-Control"] == "no-store, private"


def test_an_expired_share_link_says_when_it_expired(link):
    made, token = link
    ShareLink.objects.filter(pk=made.pk).update(expires_at=timezone.now() - timedelta(minutes=5))

    response = Client().get(f"/s/{token}/")

    assert response.status_code == 404
    assert b"expired on" in response.content


def test_a_token_no_link_has_says_it_opens_nothing(link):
    response = Client().get("/s/not-a-token-anyone-was-given/")

    assert response.status_code == 404
    assert b"does not open any canvas" in response.content


# --- money in messages ---------------------------------------------------------------------------------


def test_a_spent_budget_is_told_with_the_digits_that_make_it_true(api, alice, alice_team, alice_canvas, sim_model):
    alice_team.monthly_budget_usd = Decimal("0.01")
    alice_team.save()
    Node.objects.create(
        canvas=alice_canvas,
        kind=NodeKind.RESPONSE,
        model=sim_model,
        status=NodeStatus.DONE,
        cost=Decimal("0.0131"),
        billed_team=alice_team,
    )

    response = post(api, f"/api/canvases/{alice_canvas.id}/prompts", {"text": "Hi", "models": [str(sim_model.id)]})

    assert response.status_code == 402
    assert "$0.0131 of its $0.01 budget" in response.json()["error"]["message"]


def test_a_budget_warning_is_told_with_the_digits_that_make_it_true(api, alice_team, alice_canvas, sim_model):
    alice_team.monthly_budget_usd = Decimal("1.00")
    alice_team.save()
    Node.objects.create(
        canvas=alice_canvas,
        kind=NodeKind.RESPONSE,
        model=sim_model,
        status=NodeStatus.DONE,
        cost=Decimal("0.995"),
        billed_team=alice_team,
    )

    response = post(api, f"/api/canvases/{alice_canvas.id}/prompts", {"text": "Hi", "models": [str(sim_model.id)]})

    assert response.status_code == 202
    assert "($0.995 of $1.00)" in response.json()["warnings"][0]["message"]
