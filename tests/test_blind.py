"""Blind prompts: until a person has voted on a prompt (or its author revealed it), nothing that reaches
them names the model of an answer, its provider, its price, its cost or its speed — API, WebSocket
events, the canvas, compare and share pages with their HTML and attributes, exports — and after the
vote everything does. Each test looks for every identifying string of the arena's models (tests/arena.py)
in the whole text a channel sends, and for the fields that must be null."""

from __future__ import annotations

import json
import re

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connections
from django.test import Client

from canvas.models import Node, NodeKind, ShareLink
from config.asgi import application
from engine import events, sender
from engine.payloads import node_payload
from tests.arena import build_arena
from tests.listening import CanvasSocket

HIDDEN_FIELDS = ("ttft_ms", "tokens_per_s", "duration_ms")


def secrets(arena) -> list[str]:
    return arena.secrets("orion") + arena.secrets("vega")


def assert_names_none(text: str, arena, keys=("orion", "vega")) -> None:
    for key in keys:
        for secret in arena.secrets(key):
            assert secret not in text, f"{secret!r} ({key}) reached a person who has not voted"


def assert_names_all(text: str, arena) -> None:
    for key in ("orion", "vega"):
        assert arena.models[key].display_name in text


def assert_hidden(payload: dict) -> None:
    assert payload["kind"] == "response" and payload["label"]
    assert payload["model"] is None and payload["cost"] is None and payload["hidden"] is True
    assert all(payload["metrics"][name] is None for name in HIDDEN_FIELDS)


def assert_shown(payload: dict) -> None:
    assert payload["model"] is not None and not payload.get("hidden")
    if payload["status"] == "done":
        assert payload["cost"] is not None and payload["metrics"]["ttft_ms"] is not None


def post(client, path, body=None):
    return client.post(path, json.dumps(body if body is not None else {}), content_type="application/json")


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def answers_of(canvas_payload: dict, arena) -> list[dict]:
    prompt = str(arena.prompt.id)
    return [n for n in canvas_payload["nodes"] if prompt in n.get("parents", [])]


# --- the API ---------------------------------------------------------------------------------------------


@pytest.fixture
def arena(db):
    return build_arena(blind=True)


@pytest.mark.django_db
def test_a_blind_prompt_labels_its_answers_in_a_random_order_and_places_them_by_label(arena, settings):
    settings.PRISM_MAX_RUNS_PER_USER = 1000
    orion, vega = str(arena.models["orion"].id), str(arena.models["vega"].id)
    path = f"/api/canvases/{arena.canvas.id}/prompts"
    dave = arena.client("dave")
    first_labels = set()
    for i in range(20):
        response = post(dave, path, {"text": f"Q{i}", "models": [orion, vega, vega], "blind": True})
        assert response.status_code == 202, response.content
        body = response.json()
        assert body["prompt"]["blind"] is True and body["prompt"]["revealed"] is False
        assert_names_none(json.dumps(body), arena)
        for payload in body["responses"]:
            assert_hidden(payload)
        assert [r["label"] for r in sorted(body["responses"], key=lambda r: r["x"])] == ["A", "B", "C"]
        stored = {str(n.id): n for n in Node.objects.filter(pk__in=[r["id"] for r in body["responses"]])}
        first_labels.add(next(n.label for n in stored.values() if n.model_id == arena.models["orion"].id))
    # The first model asked is not always A: the order is drawn for each prompt.
    assert len(first_labels) > 1


@pytest.mark.django_db
def test_the_api_hides_blind_answers_until_the_person_votes(arena):
    dave, bob = arena.client("dave"), arena.client("bob")
    canvas_path = f"/api/canvases/{arena.canvas.id}"

    before = dave.get(canvas_path)
    assert_names_none(before.content.decode(), arena)
    for payload in answers_of(before.json(), arena):
        assert_hidden(payload)
    for answer in arena.answers:
        one = dave.get(f"/api/nodes/{answer.id}")
        assert_names_none(one.content.decode(), arena)
        assert_hidden(one.json())
    moved = dave.patch(f"/api/nodes/{arena.answers[0].id}", json.dumps({"x": 5}), content_type="application/json")
    assert_hidden(moved.json())

    first, second = (str(a.id) for a in arena.answers[:2])
    voted = post(dave, f"/api/nodes/{arena.prompt.id}/votes", {"a": first, "b": second, "outcome": "tie"})

    assert voted.status_code == 201
    assert_names_none(json.dumps(voted.json()["vote"]), arena)  # a vote names answers, never models
    for payload in voted.json()["responses"]:
        assert_shown(payload)
    after = dave.get(canvas_path)
    for payload in answers_of(after.json(), arena):
        assert_shown(payload)
    assert_shown(dave.get(f"/api/nodes/{first}").json())
    # Someone else who has not voted still sees labels only.
    for payload in answers_of(bob.get(canvas_path).json(), arena):
        assert_hidden(payload)
    assert_names_none(bob.get(f"/api/nodes/{first}").content.decode(), arena)


@pytest.mark.django_db
def test_a_regenerated_blind_answer_gets_the_next_label_and_stays_hidden(arena):
    response = post(arena.client("dave"), f"/api/nodes/{arena.answers[1].id}/regenerate")

    assert response.status_code == 202, response.content
    assert response.json()["label"] == "E"  # A–D are taken
    assert_hidden(response.json())
    assert_names_none(response.content.decode(), arena)


@pytest.mark.django_db
def test_a_failed_blind_answer_hides_its_providers_message(arena):
    failed = arena.answers[1]
    failed.status, failed.error_code = "error", "rate_limited"
    failed.error_message = f"Rate limit reached for {arena.models['vega'].name} at {arena.models['vega'].account.name}"
    failed.save()

    payload = arena.client("dave").get(f"/api/nodes/{failed.id}").json()

    assert payload["error"]["code"] == "rate_limited"
    assert_names_none(json.dumps(payload), arena)


@pytest.mark.django_db
def test_the_context_preview_of_a_follow_up_names_no_hidden_model(arena):
    body = {"text": "Why?", "parents": [str(arena.answers[1].id)], "model": str(arena.models["orion"].id)}

    response = post(arena.client("dave"), f"/api/canvases/{arena.canvas.id}/context", body)

    assert response.status_code == 200, response.content
    assert "Answer number 2" in response.content.decode()
    assert_names_none(response.content.decode(), arena, keys=("vega",))


@pytest.mark.django_db
def test_the_author_reveals_a_blind_prompt_to_everyone(arena):
    path = f"/api/nodes/{arena.prompt.id}/reveal"
    assert post(arena.client("dave"), path).status_code == 403  # an editor, not its author
    assert post(arena.client("bob"), path).status_code == 403
    assert post(arena.client("charlie"), path).status_code == 404
    assert_hidden(arena.client("bob").get(f"/api/nodes/{arena.answers[0].id}").json())

    response = post(arena.client("alice"), path)

    assert response.status_code == 200, response.content
    assert response.json()["prompt"]["revealed"] is True
    for payload in response.json()["responses"]:
        assert_shown(payload)
    for payload in answers_of(arena.client("bob").get(f"/api/canvases/{arena.canvas.id}").json(), arena):
        assert_shown(payload)
    assert post(arena.client("alice"), path).status_code == 200  # once revealed, it stays so


# --- pages and exports ---------------------------------------------------------------------------------


def nodes_data(html: str) -> list[dict]:
    found = re.search(r'<script id="nodes-data" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


@pytest.mark.django_db
def test_the_canvas_page_hides_blind_answers_until_the_person_votes(arena):
    # Vega is switched off since it answered: no composer lists it, so the page must not name it at all.
    arena.models["vega"].enabled = False
    arena.models["vega"].save()
    dave = signed_in(arena.users["dave"])

    html = dave.get(f"/canvases/{arena.canvas.id}/").content.decode()

    assert_names_none(html, arena, keys=("vega",))
    shown = [n for n in nodes_data(html) if n.get("label")]
    assert len(shown) == 4
    for payload in shown:
        assert_hidden(payload)
    # Orion stays offered in the composer; no node, attribute or model list ties it to an answer.
    assert_names_none(json.dumps(nodes_data(html)), arena)

    post(arena.client("dave"), f"/api/nodes/{arena.prompt.id}/votes", {"best": str(arena.answers[0].id)})

    html = dave.get(f"/canvases/{arena.canvas.id}/").content.decode()
    assert arena.models["vega"].display_name in html
    for payload in (n for n in nodes_data(html) if n.get("label")):
        assert_shown(payload)


@pytest.mark.django_db
def test_the_compare_page_hides_blind_answers_until_the_person_votes(arena):
    dave = signed_in(arena.users["dave"])
    path = f"/canvases/{arena.canvas.id}/compare/{arena.prompt.id}/"

    html = dave.get(path).content.decode()

    assert_names_none(html, arena)
    assert "simulated" not in json.dumps(nodes_or_compare(html)["models"])

    post(arena.client("dave"), f"/api/nodes/{arena.prompt.id}/votes", {"best": str(arena.answers[0].id)})

    assert_names_all(dave.get(path).content.decode(), arena)


def nodes_or_compare(html: str) -> dict:
    found = re.search(r'<script id="compare-data" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


@pytest.mark.django_db
def test_a_share_link_shows_blind_answers_only_once_revealed(arena):
    _, token = ShareLink.issue(arena.canvas, arena.users["alice"])
    guest = Client()
    # Even alice's vote reveals nothing to a guest.
    post(arena.client("alice"), f"/api/nodes/{arena.prompt.id}/votes", {"best": str(arena.answers[0].id)})

    html = guest.get(f"/s/{token}/").content.decode()

    assert_names_none(html, arena)
    post(arena.client("alice"), f"/api/nodes/{arena.prompt.id}/reveal")
    assert_names_all(guest.get(f"/s/{token}/").content.decode(), arena)


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["md", "json"])
def test_exports_hide_blind_answers_until_the_person_votes(arena, fmt):
    dave = arena.client("dave")
    path = f"/api/canvases/{arena.canvas.id}/export?format={fmt}"

    before = dave.get(path).content.decode()

    assert_names_none(before, arena)
    assert "Answer number 2" in before
    for figure in ("98765", "98.8 s", "87.65", "87.7 tokens/s", "4321 ms"):
        assert figure not in before
    if fmt == "json":
        for payload in (n for n in json.loads(before)["nodes"] if n.get("label")):
            assert payload["model"] is None and payload["cost"] is None
            assert all(payload["metrics"][name] is None for name in HIDDEN_FIELDS)
    post(dave, f"/api/nodes/{arena.prompt.id}/votes", {"best": str(arena.answers[0].id)})
    assert_names_all(dave.get(path).content.decode(), arena)


# --- the WebSocket ---------------------------------------------------------------------------------------

RECEIVE_S = 5


@pytest_asyncio.fixture
async def live_arena(transactional_db):
    arena = await sync_to_async(build_arena)(blind=True)
    yield arena
    await get_channel_layer().flush()
    await sync_to_async(connections.close_all)()


async def join(arena, name: str | None, share: str | None = None) -> CanvasSocket:
    if share is not None:
        communicator = CanvasSocket(application, f"/ws/canvases/{arena.canvas.id}/?share={share}")
    else:
        await sync_to_async(arena.client)(name)
        headers = [(b"authorization", f"Bearer {arena.tokens[name]}".encode())]
        communicator = CanvasSocket(application, f"/ws/canvases/{arena.canvas.id}/", headers=headers)
    connected, _ = await communicator.connect(timeout=RECEIVE_S)
    assert connected
    return communicator


async def received(communicator: CanvasSocket, until: str) -> list[dict]:
    """Every node or vote event up to and including the first of type `until`."""
    out = []
    while True:
        event = await communicator.receive_json_from(timeout=RECEIVE_S)
        if event["type"] in ("presence", "comment.snapshot"):
            continue
        out.append(event)
        if event["type"] == until:
            return out


async def quiet(communicator: CanvasSocket) -> list[dict]:
    """What arrives in a moment, but for presence."""
    out = []
    while not await communicator.receive_nothing(timeout=0.3):
        event = await communicator.receive_json_from()
        if event["type"] != "presence":
            out.append(event)
    return out


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_websocket_events_are_redacted_per_person_until_they_vote(live_arena):
    arena = live_arena
    _, share = await sync_to_async(ShareLink.issue)(arena.canvas, arena.users["alice"])
    sockets = {name: await join(arena, name) for name in ("dave", "bob")}
    sockets["guest"] = await join(arena, None, share=share)
    for socket in sockets.values():  # the snapshot of the queued answer, redacted
        snapshot = (await received(socket, "node.snapshot"))[-1]
        assert_hidden(snapshot["node"])
        assert_names_none(json.dumps(snapshot), arena)
    done = await sync_to_async(node_payload)(arena.answers[1])

    await sender.send(arena.canvas.id, events.NodeDone(type="node.done", node=done))
    await sender.send(arena.canvas.id, events.NodeCreated(type="node.created", node=done))

    for socket in sockets.values():
        seen = await received(socket, "node.created")
        assert [e["type"] for e in seen] == ["node.done", "node.created"]
        assert_names_none(json.dumps(seen), arena)
        for event in seen:
            assert_hidden(event["node"])

    body = {"a": str(arena.answers[0].id), "b": str(arena.answers[1].id), "outcome": "b"}
    dave_client = await sync_to_async(arena.client)("dave")
    response = await sync_to_async(post)(dave_client, f"/api/nodes/{arena.prompt.id}/votes", body)
    assert response.status_code == 201

    # Dave's socket: the vote, then his answers revealed to him.
    dave_seen = await received(sockets["dave"], "vote.recorded")
    revealed = [e for e in await quiet(sockets["dave"]) if e["type"] == "node.updated"]
    assert {e["node"]["id"] for e in revealed} == {str(n.id) for n in [*arena.answers, arena.queued]}
    for event in revealed:
        assert_shown(event["node"])
    assert dave_seen[-1]["vote"]["judge"] == {"user": "dave"}
    # Bob sees that dave voted, but nothing revealed; the guest sees neither.
    bob_seen = await received(sockets["bob"], "vote.recorded")
    assert_names_none(json.dumps(bob_seen), arena)
    assert await quiet(sockets["bob"]) == []
    assert await quiet(sockets["guest"]) == []
    await sender.send(arena.canvas.id, events.NodeDone(type="node.done", node=done))
    assert_shown((await received(sockets["dave"], "node.done"))[-1]["node"])
    assert_hidden((await received(sockets["bob"], "node.done"))[-1]["node"])
    assert_hidden((await received(sockets["guest"], "node.done"))[-1]["node"])

    # The author reveals the prompt: everyone sees the models, the guest included.
    alice_client = await sync_to_async(arena.client)("alice")
    assert (await sync_to_async(post)(alice_client, f"/api/nodes/{arena.prompt.id}/reveal")).status_code == 200
    for name in ("bob", "guest"):
        event = (await received(sockets[name], "prompt.revealed"))[-1]
        assert event["prompt"]["id"] == str(arena.prompt.id)
        for payload in event["responses"]:
            assert_shown(payload)
    await sender.send(arena.canvas.id, events.NodeDone(type="node.done", node=done))
    assert_shown((await received(sockets["guest"], "node.done"))[-1]["node"])
    for socket in sockets.values():
        await socket.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_taken_back_vote_hides_the_answers_again_and_guests_hear_no_votes(live_arena):
    arena = live_arena
    _, share = await sync_to_async(ShareLink.issue)(arena.canvas, arena.users["alice"])
    dave = await join(arena, "dave")
    guest = await join(arena, None, share=share)
    client = await sync_to_async(arena.client)("dave")
    voted = await sync_to_async(post)(client, f"/api/nodes/{arena.prompt.id}/votes", {"best": str(arena.answers[2].id)})
    assert voted.status_code == 201
    await received(dave, "vote.recorded")
    await quiet(dave)

    for vote in voted.json()["votes"]:
        assert (await sync_to_async(client.delete)(f"/api/votes/{vote['id']}")).status_code == 204

    seen = await received(dave, "vote.deleted")
    seen += await quiet(dave)
    hidden_again = [e["node"] for e in seen if e["type"] == "node.updated"]
    assert hidden_again and all(p["model"] is None for p in hidden_again)
    assert [e for e in await quiet(guest) if e["type"].startswith("vote.")] == []
    await dave.disconnect()
    await guest.disconnect()


def test_a_labelled_answer_of_an_unknown_prompt_is_hidden():
    """Fail closed: a channel that has not heard of a blind prompt hides its answers."""
    from canvas import blind

    payload = {"kind": NodeKind.RESPONSE, "label": "A", "parents": ["p1"], "model": "m", "cost": "1",
               "metrics": {"ttft_ms": 1, "tokens_per_s": 2.0, "duration_ms": 3}, "error": None}  # fmt: skip

    assert blind.redact(payload, set())["model"] is None
    assert blind.redact(payload, {"p1"}) is payload
    assert blind.redact({**payload, "label": None}, set()) is not None
