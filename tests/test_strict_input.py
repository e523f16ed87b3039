"""Strict input: a body is one JSON object of finite numbers in sane ranges, times a database can keep,
and text without NUL, lone surrogates or control characters, whichever way it comes in (API, pages,
WebSocket)."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connections
from django.test import Client

from canvas.models import Canvas, Comment, Node, NodeKind, ShareLink, Team
from config.asgi import application
from providers.models import Model, ProviderAccount
from tests.listening import CanvasSocket

# Text as a hostile client sends it: NUL, a lone surrogate, an escape, a bell, and what must stay.
DIRTY = "a\u0000b\ud800c\u001bd\u0007e\n\tf"
CLEAN = "ab\ufffdcde\n\tf"


@pytest.fixture
def model(db) -> Model:
    account = ProviderAccount.objects.create(name="Unreached", kind="deepseek", base_url="http://127.0.0.1:9")
    return Model.objects.create(account=account, name="deepseek-chat", display_name="DeepSeek Chat")


def send(client: Client, path: str, raw: str, method: str = "post"):
    return getattr(client, method)(path, raw, content_type="application/json")


def refused(response, fragment: str = "") -> bool:
    body = response.json()
    return response.status_code == 400 and body["error"]["code"] == "invalid" and fragment in body["error"]["message"]


# --- bodies ------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ['"A title"', '["A title"]', "42", "null", "true"])
def test_a_body_that_is_not_an_object_is_refused(api, raw):
    before = Canvas.objects.count()

    response = send(api, "/api/canvases", raw)

    assert refused(response, "must be a JSON object")
    assert Canvas.objects.count() == before


@pytest.mark.django_db
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_number_that_is_not_finite_is_refused(api, alice_canvas, model, number):
    raw = f'{{"text": "Hello", "models": ["{model.id}"], "x": {number}, "y": 0}}'

    response = send(api, f"/api/canvases/{alice_canvas.id}/prompts", raw)

    assert refused(response)
    assert not alice_canvas.nodes.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("place", [{"x": 1e300, "y": 0}, {"x": 0, "y": -1e12}])
def test_a_prompt_cannot_be_placed_out_of_bounds(api, alice_canvas, model, place):
    body = {"text": "Hello", "models": [str(model.id)], **place}

    response = send(api, f"/api/canvases/{alice_canvas.id}/prompts", json.dumps(body))

    assert refused(response)
    assert not alice_canvas.nodes.exists()


@pytest.mark.django_db
def test_a_prompt_placed_in_bounds_keeps_its_place(api, alice_canvas, model):
    body = {"text": "Hello", "models": [str(model.id)], "x": -2500.5, "y": 9_000_000}

    response = send(api, f"/api/canvases/{alice_canvas.id}/prompts", json.dumps(body))

    assert response.status_code == 202
    prompt = response.json()["prompt"]
    assert (prompt["x"], prompt["y"]) == (-2500.5, 9_000_000)


@pytest.mark.django_db
def test_a_body_nested_beyond_reason_is_refused(api):
    shallow_enough = '{"title": "Deep", "extra": ' + "[" * 20 + "]" * 20 + "}"
    too_deep = '{"title": "Deep", "extra": ' + "[" * 50_000 + "]" * 50_000 + "}"
    just_too_deep = '{"title": "Deep", "extra": ' + "[" * 40 + "]" * 40 + "}"

    assert send(api, "/api/canvases", shallow_enough).status_code == 201
    assert refused(send(api, "/api/canvases", too_deep), "nested")
    assert refused(send(api, "/api/canvases", just_too_deep), "nested")


# --- text --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_canvas_titles_and_node_text_are_cleaned(api, alice_canvas, model):
    title = send(api, "/api/canvases", json.dumps({"title": DIRTY}))
    note = send(api, f"/api/canvases/{alice_canvas.id}/notes", json.dumps({"text": DIRTY}))
    prompt = send(
        api, f"/api/canvases/{alice_canvas.id}/prompts", json.dumps({"text": DIRTY, "models": [str(model.id)]})
    )
    edited = send(api, f"/api/nodes/{note.json()['id']}", json.dumps({"text": "x\u0000" + DIRTY}), method="patch")

    assert title.json()["title"] == CLEAN and Canvas.objects.get(id=title.json()["id"]).title == CLEAN
    assert Node.objects.get(id=note.json()["id"]).text == "x" + CLEAN and edited.json()["text"] == "x" + CLEAN
    assert Node.objects.get(id=prompt.json()["prompt"]["id"]).text == CLEAN


@pytest.mark.django_db
def test_text_that_is_only_control_characters_is_empty(api, alice_canvas, model):
    prompt = send(
        api, f"/api/canvases/{alice_canvas.id}/prompts", json.dumps({"text": "\u0000\u0001", "models": [str(model.id)]})
    )
    canvas = send(api, "/api/canvases", json.dumps({"title": "\u0000"}))

    assert refused(prompt) and refused(canvas)


@pytest.mark.django_db
def test_team_names_comments_and_share_link_names_are_cleaned(api, alice, alice_canvas):
    note = Node.objects.create(canvas=alice_canvas, kind=NodeKind.NOTE, text="A note", created_by=alice)

    team = send(api, "/api/teams", json.dumps({"name": DIRTY}))
    comment = send(api, f"/api/nodes/{note.id}/comments", json.dumps({"text": DIRTY}))
    link = send(api, f"/api/canvases/{alice_canvas.id}/share-links", json.dumps({"name": DIRTY}))
    empty_comment = send(api, f"/api/nodes/{note.id}/comments", json.dumps({"text": "\u0000 \u0001"}))

    assert Team.objects.get(id=team.json()["id"]).name == CLEAN
    assert Comment.objects.get(id=comment.json()["id"]).text == CLEAN
    assert ShareLink.objects.get(id=link.json()["id"]).name == CLEAN
    assert refused(empty_comment, "needs some text")


@pytest.mark.django_db
def test_the_pages_clean_what_their_forms_send(alice, alice_canvas):
    browser = Client()
    browser.force_login(alice)

    browser.post("/canvases/new", {"title": "Page\u0000 title\u001b"})
    browser.post("/teams/", {"name": "Page\u0000 team"})
    browser.post(f"/canvases/{alice_canvas.id}/sharing/", {"name": "For\u0007 Bob"})

    assert Canvas.objects.filter(title="Page title").exists()
    assert Team.objects.filter(name="Page team").exists()
    assert ShareLink.objects.filter(name="For Bob").exists()


# --- imports -----------------------------------------------------------------------------------------


def canvas_file(**node) -> dict:
    return {
        "format": "prism.canvas",
        "version": 1,
        "canvas": {"title": "Imported", "system_prompt": "Be\u0000 brief."},
        "nodes": [{"id": "n1", "kind": "note", "text": "Note", **node}],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "created_at",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00", "1969-12-31T23:59:59Z"],
)
def test_an_imported_time_out_of_range_is_refused(api, created_at):
    response = send(api, "/api/canvases/import", json.dumps(canvas_file(created_at=created_at)))

    assert refused(response, "created_at")
    assert not Canvas.objects.filter(title="Imported").exists()


@pytest.mark.django_db
def test_an_imported_time_in_range_is_kept_in_utc(api):
    response = send(api, "/api/canvases/import", json.dumps(canvas_file(created_at="2025-03-01T12:00:00+14:00")))

    assert response.status_code == 201
    assert response.json()["nodes"][0]["created_at"] == "2025-02-28T22:00:00+00:00"
    assert api.get(f"/api/canvases/{response.json()['id']}").status_code == 200


@pytest.mark.django_db
def test_imported_text_is_cleaned(api):
    response = send(api, "/api/canvases/import", json.dumps(canvas_file(text=DIRTY)))

    assert response.status_code == 201
    canvas = Canvas.objects.get(id=response.json()["id"])
    assert canvas.system_prompt == "Be brief."
    assert canvas.nodes.get().text == CLEAN


# --- the WebSocket -----------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_websocket_frame_nested_too_deep_is_answered_and_the_socket_lives_on(alice, alice_canvas, alice_token):
    note = await Node.objects.acreate(canvas=alice_canvas, kind=NodeKind.NOTE, text="A note", created_by=alice)
    headers = [(b"authorization", f"Bearer {alice_token}".encode())]
    communicator = CanvasSocket(application, f"/ws/canvases/{alice_canvas.id}/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    try:
        await communicator.send_to(text_data="[" * 50_000 + "]" * 50_000)
        error = await next_of(communicator, "error")
        await communicator.send_json_to({"type": "comment.create", "node": str(note.id), "text": DIRTY})
        created = await next_of(communicator, "comment.created")
    finally:
        await communicator.disconnect()
        await get_channel_layer().flush()
        await sync_to_async(connections.close_all)()

    assert error["error"]["code"] == "invalid"
    assert created["comment"]["text"] == CLEAN


async def next_of(communicator: CanvasSocket, kind: str) -> dict:
    while True:
        event = await communicator.receive_json_from(timeout=5)
        if event["type"] == kind:
            return event
