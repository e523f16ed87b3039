"""The node endpoints of the API: notes, edits, cancel, regenerate, rerun, and the context preview.

Shape and error tests run inside a rolled-back transaction (no run starts). The tests of events and of
real runs commit (transaction=True) and drive the in-process runner against the simulator over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient, Client

from accounts.models import ApiToken
from canvas.models import Edge, Membership, Node, NodeKind, NodeStatus, Role
from canvas.services import create_note, create_prompt
from engine import loops, store
from engine.runner import run_response
from providers.adapters import openai_compat  # noqa: F401 - imported up front, not inside a timed run
from providers.models import Model, ProviderAccount
from tests.listening import Listener

pytestmark = pytest.mark.django_db


# --- personas and helpers -------------------------------------------------------------------------------


def client_for(user) -> Client:
    return Client(headers={"authorization": f"Bearer {ApiToken.issue(user)[1]}"})


@pytest.fixture
def bob(django_user_model, alice_team):
    """A viewer in alice's team: sees her canvases, changes nothing."""
    user = django_user_model.objects.create_user("bob", password="bob-password-1")
    Membership.objects.create(team=alice_team, user=user, role=Role.VIEWER)
    return user


@pytest.fixture
def viewer(bob) -> Client:
    return client_for(bob)


@pytest.fixture
def outsider(charlie) -> Client:
    return client_for(charlie)


@pytest.fixture
def models() -> dict[str, Model]:
    """Models that are never called here: these tests stop before any run starts."""
    account = ProviderAccount.objects.create(name="Quiet", kind="simulator", base_url="http://127.0.0.1:9/v1")
    return {
        name: Model.objects.create(account=account, name=name, display_name=name.title(), position=i)
        for i, name in enumerate(("swift", "steady", "third"))
    }


def post(client: Client, path: str, body=None):
    return client.post(path, json.dumps(body if body is not None else {}), content_type="application/json")


def patch(client: Client, node: Node, body):
    raw = body if isinstance(body, str) else json.dumps(body)
    return client.patch(f"/api/nodes/{node.id}", raw, content_type="application/json")


def assert_error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] and body["error"]["message"]
    return body["error"]


@pytest.fixture
def fanout(alice, alice_canvas, models):
    """A prompt answered by swift and steady (both still queued)."""
    return create_prompt(alice_canvas, alice, "Compare yourselves", [models["swift"], models["steady"]], [])[:2]


def finish(node: Node, text: str = "An answer.", status: str = NodeStatus.DONE) -> Node:
    node.text, node.status = text, status
    node.save(update_fields=["text", "status"])
    return node


# --- notes ---------------------------------------------------------------------------------------------


def test_a_note_is_created_below_its_parents(api, alice_canvas, fanout):
    _, [answer, _] = fanout

    response = post(api, f"/api/canvases/{alice_canvas.id}/notes", {"text": "Check this.", "parents": [str(answer.id)]})

    assert response.status_code == 201
    note = response.json()
    assert note["kind"] == "note" and note["text"] == "Check this." and note["parents"] == [str(answer.id)]
    assert note["y"] > answer.y
    assert note["status"] is None and note["model"] is None
    assert Node.objects.get(id=note["id"]).kind == NodeKind.NOTE


def test_a_note_may_start_empty_at_a_chosen_place(api, alice_canvas):
    response = post(api, f"/api/canvases/{alice_canvas.id}/notes", {"text": "", "x": -40.5, "y": 1200})

    assert response.status_code == 201
    assert (response.json()["x"], response.json()["y"], response.json()["parents"]) == (-40.5, 1200, [])


@pytest.mark.parametrize(
    "body",
    [{}, {"text": 5}, {"text": "x", "parents": ["nope"]}, {"text": "x", "x": 1e12}, '{"text": "x", "y": NaN}'],
)
def test_a_note_with_a_bad_body_is_refused(api, alice_canvas, body):
    raw = body if isinstance(body, str) else json.dumps(body)
    response = api.post(f"/api/canvases/{alice_canvas.id}/notes", raw, content_type="application/json")

    assert_error(response, 400)
    assert not alice_canvas.nodes.exists()


def test_a_viewer_cannot_add_notes_and_an_outsider_learns_nothing(viewer, outsider, alice_canvas):
    path = f"/api/canvases/{alice_canvas.id}/notes"

    assert assert_error(post(viewer, path, {"text": "Mine"}), 403)["code"] == "forbidden"
    assert_error(post(outsider, path, {"text": "Mine"}), 404)
    assert not alice_canvas.nodes.exists()


# --- PATCH /nodes/{id} ---------------------------------------------------------------------------------


def test_a_node_can_be_moved_and_resized(api, fanout):
    prompt, _ = fanout

    response = patch(api, prompt, {"x": 12.5, "y": -300, "w": 400, "h": 180})

    assert response.status_code == 200
    assert {k: response.json()[k] for k in "xywh"} == {"x": 12.5, "y": -300, "w": 400, "h": 180}
    prompt.refresh_from_db()
    assert (prompt.x, prompt.y, prompt.w, prompt.h) == (12.5, -300, 400, 180)


def test_the_text_of_a_prompt_and_of_a_note_can_be_edited(api, alice, alice_canvas, fanout):
    prompt, _ = fanout
    note = create_note(alice_canvas, alice, "Old note", [])

    assert patch(api, prompt, {"text": "Compare, briefly"}).json()["text"] == "Compare, briefly"
    assert patch(api, note, {"text": ""}).json()["text"] == ""
    assert Node.objects.get(id=prompt.id).text == "Compare, briefly"


def test_editing_a_prompt_does_not_run_it_again(api, fanout):
    prompt, responses = fanout
    finish(responses[0], "Kept.")

    patch(api, prompt, {"text": "Something else"})

    assert Node.objects.filter(kind=NodeKind.RESPONSE).count() == 2
    assert Node.objects.get(id=responses[0].id).text == "Kept."


def test_a_responses_text_cannot_be_edited(api, fanout):
    _, [answer, _] = fanout
    finish(answer, "The model's words.")

    assert_error(patch(api, answer, {"text": "My words", "x": 5}), 400)
    answer.refresh_from_db()
    assert (answer.text, answer.x) != ("My words", 5) and answer.text == "The model's words."


def test_a_prompt_cannot_be_emptied(api, fanout):
    prompt, _ = fanout
    assert_error(patch(api, prompt, {"text": "  "}), 400)


def test_nothing_but_place_size_and_text_can_change(api, alice_canvas, fanout, models):
    _, [answer, sibling] = fanout
    before = Node.objects.get(id=answer.id)

    response = patch(
        api,
        answer,
        {
            "kind": "note",
            "canvas": str(uuid.uuid4()),
            "model": str(models["third"].id),
            "status": "done",
            "parents": [str(sibling.id)],
            "created_by": None,
            "cost": "0.5",
            "x": 77,
        },
    )

    assert response.status_code == 200
    after = Node.objects.get(id=answer.id)
    assert after.x == 77
    assert (after.kind, after.canvas_id, after.model_id, after.status, after.created_by_id, after.cost) == (
        before.kind,
        before.canvas_id,
        before.model_id,
        before.status,
        before.created_by_id,
        before.cost,
    )
    assert list(Edge.objects.filter(child=answer).values_list("parent_id", flat=True)) == [fanout[0].id]


@pytest.mark.parametrize(
    "raw",
    [
        '{"x": NaN}',
        '{"y": Infinity}',
        '{"x": -Infinity}',
        '{"x": 1e400}',
        '{"y": 1e12}',
        '{"w": 0}',
        '{"h": -5}',
        '{"w": 1e9}',
        '{"x": "left"}',
        '{"text": 12}',
        "[1, 2]",
        "not json",
    ],
)
def test_impossible_places_and_sizes_are_refused(api, fanout, raw):
    prompt, _ = fanout

    assert_error(patch(api, prompt, raw), 400)
    prompt_after = Node.objects.get(id=prompt.id)
    assert (prompt_after.x, prompt_after.y, prompt_after.w, prompt_after.h) == (prompt.x, prompt.y, prompt.w, prompt.h)


def test_a_viewer_cannot_edit_and_an_outsider_learns_nothing(viewer, outsider, fanout):
    prompt, _ = fanout

    assert_error(patch(viewer, prompt, {"x": 1}), 403)
    assert_error(patch(outsider, prompt, {"x": 1}), 404)
    assert Node.objects.get(id=prompt.id).x == prompt.x


@pytest.mark.parametrize("node_id", ["not-a-uuid", str(uuid.uuid4())], ids=["not-a-uuid", "unknown-uuid"])
def test_editing_a_node_that_does_not_exist_is_not_found(api, node_id):
    response = api.patch(f"/api/nodes/{node_id}", '{"x": 1}', content_type="application/json")
    assert_error(response, 404)


@pytest.mark.parametrize(
    ("method", "suffix"), [("put", ""), ("post", ""), ("get", "/cancel"), ("get", "/regenerate"), ("put", "/rerun")]
)
def test_wrong_methods_on_node_endpoints_are_json_405s(api, fanout, method, suffix):
    prompt, _ = fanout
    assert_error(getattr(api, method)(f"/api/nodes/{prompt.id}{suffix}"), 405)


# --- cancel --------------------------------------------------------------------------------------------


def test_cancelling_a_queued_response_ends_it_at_once_and_it_never_runs(api, fanout):
    _, [answer, sibling] = fanout

    response = post(api, f"/api/nodes/{answer.id}/cancel")

    assert response.status_code == 202
    body = response.json()
    assert body["cancelled"] == [str(answer.id)]
    assert body["node"]["id"] == str(answer.id) and body["node"]["status"] == "cancelled"
    assert Node.objects.get(id=sibling.id).status == "queued"
    assert store.claim([str(answer.id)]) == []  # a run that picks it up later finds nothing to do


@pytest.mark.parametrize("status", ["done", "error", "cancelled", "interrupted"])
def test_cancelling_a_response_that_has_ended_is_a_conflict(api, fanout, status):
    _, [answer, _] = fanout
    finish(answer, status=status)

    assert assert_error(post(api, f"/api/nodes/{answer.id}/cancel"), 409)["code"] == "not_running"
    assert Node.objects.get(id=answer.id).status == status


def test_cancelling_a_note_is_a_conflict(api, alice, alice_canvas):
    note = create_note(alice_canvas, alice, "Nothing runs here", [])
    assert_error(post(api, f"/api/nodes/{note.id}/cancel"), 409)


def test_cancelling_a_prompt_stops_its_whole_fanout(api, alice, alice_canvas, models):
    prompt, responses, _ = create_prompt(alice_canvas, alice, "Three", list(models.values()), [])
    finish(responses[1])

    response = post(api, f"/api/nodes/{prompt.id}/cancel")

    assert response.status_code == 202
    assert response.json()["cancelled"] == [str(responses[0].id), str(responses[2].id)]
    assert response.json()["node"]["id"] == str(prompt.id)
    statuses = [Node.objects.get(id=r.id).status for r in responses]
    assert statuses == ["cancelled", "done", "cancelled"]


def test_cancelling_a_prompt_with_nothing_running_is_a_conflict(api, fanout):
    prompt, responses = fanout
    for response in responses:
        finish(response)
    assert_error(post(api, f"/api/nodes/{prompt.id}/cancel"), 409)


def test_a_viewer_cannot_cancel_and_an_outsider_learns_nothing(viewer, outsider, fanout):
    prompt, [answer, _] = fanout

    assert_error(post(viewer, f"/api/nodes/{answer.id}/cancel"), 403)
    assert_error(post(viewer, f"/api/nodes/{prompt.id}/cancel"), 403)
    assert_error(post(outsider, f"/api/nodes/{answer.id}/cancel"), 404)
    assert set(Node.objects.filter(kind=NodeKind.RESPONSE).values_list("status", flat=True)) == {"queued"}


# --- regenerate ----------------------------------------------------------------------------------------


def test_regenerating_adds_a_queued_sibling_right_of_the_others(api, fanout):
    prompt, [answer, sibling] = fanout
    finish(answer, "First try.")

    response = post(api, f"/api/nodes/{answer.id}/regenerate")

    assert response.status_code == 202
    node = response.json()
    assert node["kind"] == "response" and node["status"] == "queued" and node["text"] == ""
    assert node["model"] == str(answer.model_id)
    assert node["parents"] == [str(prompt.id)]
    assert node["x"] >= sibling.x + sibling.w and node["y"] == answer.y
    assert Node.objects.get(id=answer.id).text == "First try."


def test_only_a_response_can_be_regenerated(api, alice, alice_canvas, fanout):
    prompt, _ = fanout
    note = create_note(alice_canvas, alice, "A note", [])

    assert_error(post(api, f"/api/nodes/{prompt.id}/regenerate"), 400)
    assert_error(post(api, f"/api/nodes/{note.id}/regenerate"), 400)


def test_a_response_whose_model_is_no_longer_offered_cannot_be_regenerated(api, fanout, models):
    _, [answer, _] = fanout
    Model.objects.filter(id=models["swift"].id).update(enabled=False)

    assert_error(post(api, f"/api/nodes/{answer.id}/regenerate"), 400)
    assert Node.objects.filter(kind=NodeKind.RESPONSE).count() == 2


def test_regenerating_counts_against_the_users_run_limit(api, fanout, settings):
    _, [answer, _] = fanout  # two runs going already
    settings.PRISM_MAX_RUNS_PER_USER = 2

    assert assert_error(post(api, f"/api/nodes/{answer.id}/regenerate"), 429)["code"] == "limit"
    assert Node.objects.filter(kind=NodeKind.RESPONSE).count() == 2


def test_a_viewer_cannot_regenerate_and_an_outsider_learns_nothing(viewer, outsider, fanout):
    _, [answer, _] = fanout

    assert_error(post(viewer, f"/api/nodes/{answer.id}/regenerate"), 403)
    assert_error(post(outsider, f"/api/nodes/{answer.id}/regenerate"), 404)
    assert Node.objects.filter(kind=NodeKind.RESPONSE).count() == 2


# --- rerun ---------------------------------------------------------------------------------------------


def test_rerunning_a_prompt_makes_a_sibling_prompt_asking_the_same_models(api, alice, alice_canvas, models):
    earlier = create_note(alice_canvas, alice, "Background", [])
    old, old_responses, _ = create_prompt(
        alice_canvas, alice, "Compare", [models["steady"], models["swift"]], [earlier]
    )
    finish(old_responses[0], "Kept.")

    response = post(api, f"/api/nodes/{old.id}/rerun")

    assert response.status_code == 202
    prompt, responses = response.json()["prompt"], response.json()["responses"]
    assert prompt["id"] != str(old.id) and prompt["text"] == "Compare" and prompt["parents"] == [str(earlier.id)]
    assert [r["model"] for r in responses] == [str(models["steady"].id), str(models["swift"].id)]
    assert all(r["status"] == "queued" and r["parents"] == [prompt["id"]] for r in responses)
    rightmost = max(n.x + n.w for n in [old, *old_responses])
    assert min(r["x"] for r in responses) > rightmost and prompt["y"] == old.y
    assert Node.objects.get(id=old_responses[0].id).text == "Kept."
    assert Node.objects.get(id=old.id).text == "Compare"


def test_a_rerun_may_edit_the_text_and_choose_other_models(api, fanout, models):
    old, _ = fanout
    third = str(models["third"].id)

    response = post(api, f"/api/nodes/{old.id}/rerun", {"text": "Compare, briefly", "models": [third, third]})

    assert response.status_code == 202
    assert response.json()["prompt"]["text"] == "Compare, briefly"
    assert [r["model"] for r in response.json()["responses"]] == [third, third]
    assert Node.objects.get(id=old.id).text == "Compare yourselves"


@pytest.mark.parametrize(
    "body", [{"text": " "}, {"models": []}, {"models": ["gpt-4"]}, {"models": [str(uuid.uuid4())]}, {"text": 3}]
)
def test_a_rerun_with_a_bad_body_is_refused(api, fanout, body):
    old, _ = fanout
    assert_error(post(api, f"/api/nodes/{old.id}/rerun", body), 400)
    assert Node.objects.filter(kind=NodeKind.PROMPT).count() == 1


def test_only_a_prompt_can_be_rerun(api, fanout):
    _, [answer, _] = fanout
    assert_error(post(api, f"/api/nodes/{answer.id}/rerun"), 400)


def test_a_viewer_cannot_rerun_and_an_outsider_learns_nothing(viewer, outsider, fanout):
    old, _ = fanout

    assert_error(post(viewer, f"/api/nodes/{old.id}/rerun"), 403)
    assert_error(post(outsider, f"/api/nodes/{old.id}/rerun"), 404)
    assert Node.objects.filter(kind=NodeKind.PROMPT).count() == 1


# --- the context preview --------------------------------------------------------------------------------


def context(client: Client, canvas, **body):
    return post(client, f"/api/canvases/{canvas.id}/context", body)


def test_the_preview_shows_the_messages_a_model_would_be_sent_and_runs_nothing(api, alice_canvas, fanout, models):
    prompt, [answer, sibling] = fanout
    finish(answer, "Swift's answer.")
    finish(sibling, "Steady's answer.")
    count = Node.objects.count()

    response = context(api, alice_canvas, text="Go on.", parents=[str(answer.id)], model=str(models["third"].id))

    assert response.status_code == 200
    expected = [
        {"role": "user", "content": "Compare yourselves"},
        {"role": "assistant", "content": "Swift's answer."},
        {"role": "user", "content": "Go on."},
    ]
    assert response.json() == {
        "model": str(models["third"].id),
        "protocol": "openai_compat",
        "params": {},  # no settings asked for, none in the model's params
        "messages": expected,
        "wire": {"messages": expected},
    }
    assert Node.objects.count() == count


def test_the_preview_puts_the_system_prompt_first(api, alice_canvas, models):
    alice_canvas.system_prompt = "Be terse."
    alice_canvas.save()

    body = context(api, alice_canvas, text="Hi", model=str(models["swift"].id)).json()

    assert body["messages"] == [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]


def test_a_blank_prompt_previews_the_context_alone(api, alice_canvas, fanout, models):
    _, [answer, _] = fanout
    finish(answer, "Swift's answer.")

    body = context(api, alice_canvas, text=" ", parents=[str(answer.id)], model=str(models["swift"].id)).json()

    assert [m["role"] for m in body["messages"]] == ["user", "assistant"]


@pytest.mark.parametrize(
    ("kind", "wire"),
    [
        (
            "anthropic",
            {
                "system": "Be terse.",
                "messages": [
                    {"role": "user", "content": "Background\n\nCompare yourselves"},
                    {"role": "assistant", "content": "Swift's answer."},
                    {"role": "user", "content": "Go on."},
                ],
            },
        ),
        (
            "gemini",
            {
                "system_instruction": {"role": "user", "parts": [{"text": "Be terse."}]},
                "contents": [
                    {"role": "user", "parts": [{"text": "Background\n\nCompare yourselves"}]},
                    {"role": "model", "parts": [{"text": "Swift's answer."}]},
                    {"role": "user", "parts": [{"text": "Go on."}]},
                ],
            },
        ),
    ],
)
def test_the_preview_shows_each_protocols_own_request(api, alice, alice_canvas, models, kind, wire):
    alice_canvas.system_prompt = "Be terse."
    alice_canvas.save()
    note = create_note(alice_canvas, alice, "Background", [])
    _, [answer], _ = create_prompt(alice_canvas, alice, "Compare yourselves", [models["swift"]], [note])
    finish(answer, "Swift's answer.")
    account = ProviderAccount.objects.create(name=kind, kind=kind)
    model = Model.objects.create(account=account, name=f"{kind}-model", display_name=kind)

    body = context(api, alice_canvas, text="Go on.", parents=[str(answer.id)], model=str(model.id)).json()

    assert body["protocol"] == kind
    assert body["wire"] == wire
    assert body["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Background\n\nCompare yourselves"},
        {"role": "assistant", "content": "Swift's answer."},
        {"role": "user", "content": "Go on."},
    ]


def test_the_same_preview_is_the_same_bytes_each_time(api, alice_canvas, fanout, models):
    _, [answer, sibling] = fanout
    finish(answer, "Left.")
    finish(sibling, "Right.")
    body = {"text": "Merge.", "parents": [str(sibling.id), str(answer.id)], "model": str(models["swift"].id)}

    first = post(api, f"/api/canvases/{alice_canvas.id}/context", body).content

    assert all(post(api, f"/api/canvases/{alice_canvas.id}/context", body).content == first for _ in range(3))


@pytest.mark.parametrize(
    "body",
    [
        {"text": "Hi"},
        {"text": "Hi", "model": "gpt-4"},
        {"text": "Hi", "model": str(uuid.uuid4())},
        {"text": "Hi", "model": "MODEL", "parents": [str(uuid.uuid4())]},
        {"text": "Hi", "model": "MODEL", "parents": "not a list"},
    ],
)
def test_a_preview_with_a_bad_body_is_refused(api, alice_canvas, models, body):
    body = {k: (str(models["swift"].id) if v == "MODEL" else v) for k, v in body.items()}
    assert_error(context(api, alice_canvas, **body), 400)


def test_a_viewer_cannot_preview_and_an_outsider_learns_nothing(viewer, outsider, alice_canvas, models):
    body = {"text": "Hi", "model": str(models["swift"].id)}

    assert_error(context(viewer, alice_canvas, **body), 403)
    assert_error(context(outsider, alice_canvas, **body), 404)


# --- the OpenAPI document -------------------------------------------------------------------------------


def test_the_openapi_document_describes_every_endpoint_with_its_shapes(api):
    paths = api.get("/api/openapi.json").json()["paths"]
    endpoints = [
        ("/api/canvases/{canvas_id}/notes", "post", "201", True),
        ("/api/nodes/{node_id}", "patch", "200", True),
        ("/api/nodes/{node_id}/cancel", "post", "202", False),
        ("/api/nodes/{node_id}/regenerate", "post", "202", False),
        ("/api/nodes/{node_id}/rerun", "post", "202", True),
        ("/api/canvases/{canvas_id}/context", "post", "200", True),
        ("/api/canvases/{canvas_id}/export", "get", "200", False),
        ("/api/canvases/import", "post", "201", True),
    ]
    for path, method, status, takes_body in endpoints:
        operation = paths[path][method]
        assert "schema" in operation["responses"][status]["content"]["application/json"], path
        assert "schema" in operation["responses"]["404"]["content"]["application/json"], path
        assert ("requestBody" in operation) == takes_body, path


# --- events and real runs (committed, against the simulator) -------------------------------------------


async def until(condition, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


@pytest_asyncio.fixture
async def runs_here():
    """Runs started by a request land on this test's loop, as they land on the server's in embedded mode;
    afterwards, the runner's database connections are closed so the test database can be dropped."""
    loops.bind_server_loop(asyncio.get_running_loop())
    yield
    loops.bind_server_loop(None)
    await sync_to_async(connections.close_all)()


class AsyncApi:
    """Alice's API client for async tests. Headers go with each request: AsyncClient(headers=...) sends
    them under their WSGI names (HTTP_AUTHORIZATION), which no ASGI server would deliver."""

    def __init__(self, token: str) -> None:
        self.client = AsyncClient()
        self.headers = {"authorization": f"Bearer {token}"}

    async def post(self, path: str, body=None):
        raw = json.dumps(body or {})
        return await self.client.post(path, raw, content_type="application/json", headers=self.headers)

    async def patch(self, path: str, body):
        raw = json.dumps(body)
        return await self.client.patch(path, raw, content_type="application/json", headers=self.headers)


@pytest.fixture
def async_api(alice_token) -> AsyncApi:
    return AsyncApi(alice_token)


@sync_to_async
def reload(node_id) -> Node:
    return Node.objects.get(id=node_id)


@sync_to_async
def ask(user, canvas, model, text: str = "Tell me about token streams please", **simulator) -> tuple[Node, Node]:
    model.default_params = {"simulator": {"ttft_ms": 0, "tokens_per_s": 2000, **simulator}}
    model.save(update_fields=["default_params"])
    prompt, [response], _ = create_prompt(canvas, user, text, [model], [])
    return prompt, response


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_editors_changes_reach_everyone_on_the_canvas(async_api, alice, alice_canvas, runs_here):
    listener = await Listener(alice_canvas.id).open()

    created = await async_api.post(f"/api/canvases/{alice_canvas.id}/notes", {"text": "Hello"})
    note = created.json()
    moved = await async_api.patch(f"/api/nodes/{note['id']}", {"x": 300})

    # The API fills a note's response-only fields with nulls; the events leave them out.
    assert (await listener.until("node.created", note["id"]))["node"].items() <= note.items()
    assert (await listener.until("node.updated", note["id"]))["node"].items() <= moved.json().items()
    assert moved.json()["x"] == 300


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_edit_that_changes_nothing_is_not_broadcast(async_api, alice, alice_canvas, runs_here):
    note = await sync_to_async(create_note)(alice_canvas, alice, "Same", [])
    listener = await Listener(alice_canvas.id).open()

    await async_api.patch(f"/api/nodes/{note.id}", {"text": "Same"})
    marker = await async_api.post(f"/api/canvases/{alice_canvas.id}/notes", {"text": "Marker"})

    await listener.until("node.created", marker.json()["id"])  # events arrive in order: nothing came before
    assert [e["type"] for e in listener.events] == ["node.created"]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_runner_connections")
async def test_a_cancelled_queued_response_ends_with_node_done_and_never_calls_the_provider(
    async_api, alice, alice_canvas, sim_models, simulator_app, runs_here
):
    _, response = await ask(alice, alice_canvas, sim_models["sim-swift"])
    listener = await Listener(alice_canvas.id).open()

    reply = await async_api.post(f"/api/nodes/{response.id}/cancel")
    await run_response(str(response.id))  # a worker picking it up afterwards finds it cancelled

    assert reply.status_code == 202
    done = await listener.until("node.done", response.id)
    assert done["node"]["status"] == "cancelled"
    assert [e["type"] for e in listener.events] == ["node.done"]
    assert simulator_app.request_count == 0


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_runner_connections")
async def test_cancelling_a_streaming_response_keeps_its_partial_text_and_closes_the_stream(
    async_api, alice, alice_canvas, sim_models, simulator_app, runs_here
):
    _, response = await ask(alice, alice_canvas, sim_models["sim-steady"], tokens_per_s=20, length=400)
    listener = await Listener(alice_canvas.id).open()
    task = asyncio.create_task(run_response(str(response.id)))
    await listener.until("node.delta", response.id)

    reply = await async_api.post(f"/api/nodes/{response.id}/cancel")
    await asyncio.wait_for(task, 5)

    assert reply.status_code == 202 and reply.json()["cancelled"] == [str(response.id)]
    done = await listener.until("node.done", response.id)
    node = await reload(response.id)
    assert node.status == "cancelled" and done["node"]["status"] == "cancelled"
    assert node.text and done["node"]["text"] == node.text
    assert len([e for e in listener.events if e["type"] in ("node.done", "node.error")]) == 1

    async def stream_closed() -> bool:
        return simulator_app.active_streams == 0

    await until(stream_closed)
    assert simulator_app.cancelled_streams == 1
    assert assert_error(await async_api.post(f"/api/nodes/{response.id}/cancel"), 409)["code"] == "not_running"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_runner_connections")
async def test_a_regenerated_response_runs_beside_the_old_one(
    async_api, alice, alice_canvas, sim_models, simulator_app, runs_here
):
    prompt, response = await ask(alice, alice_canvas, sim_models["sim-swift"], length=6)
    await run_response(str(response.id))
    listener = await Listener(alice_canvas.id).open()

    reply = await async_api.post(f"/api/nodes/{response.id}/regenerate")
    new_id = reply.json()["id"]

    assert reply.status_code == 202 and reply.json()["parents"] == [str(prompt.id)]
    assert (await listener.until("node.created", new_id))["node"]["status"] == "queued"
    done = await listener.until("node.done", new_id)
    assert done["node"]["status"] == "done" and done["node"]["text"]
    old = await reload(response.id)
    assert old.status == "done" and old.text
    # The same prompt, so the same context, to the byte.
    first, second = list(simulator_app.recent_requests)[-2:]
    assert json.dumps(first["messages"]) == json.dumps(second["messages"])


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_runner_connections")
async def test_a_rerun_asks_again_with_the_edited_text_and_keeps_the_old_branch(
    async_api, alice, alice_canvas, sim_models, simulator_app, runs_here
):
    old_prompt, old_response = await ask(alice, alice_canvas, sim_models["sim-swift"], text="First wording", length=5)
    await run_response(str(old_response.id))
    listener = await Listener(alice_canvas.id).open()

    reply = await async_api.post(f"/api/nodes/{old_prompt.id}/rerun", {"text": "Second wording"})
    [new_response] = reply.json()["responses"]

    assert reply.status_code == 202
    assert (await listener.until("node.created", reply.json()["prompt"]["id"]))["node"]["text"] == "Second wording"
    assert (await listener.until("node.done", new_response["id"]))["node"]["status"] == "done"
    assert simulator_app.recent_requests[-1]["messages"][-1] == {"role": "user", "content": "Second wording"}
    assert (await reload(old_prompt.id)).text == "First wording"
    assert (await reload(old_response.id)).status == "done"
