"""The public JSON API (v1): its shapes, its access rules and its errors.

POST /prompts starts its runs after commit; these tests run inside a rolled-back transaction, so no
run starts and every response stays queued, which is what a shape test wants.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from canvas.models import Canvas, Edge, Node, NodeKind
from providers.models import Model, Price, ProviderAccount

pytestmark = pytest.mark.django_db

NODE_FIELDS = {"id", "kind", "parents", "x", "y", "w", "h", "text", "created_at"}
RESPONSE_FIELDS = {"model", "status", "finish_reason", "reasoning", "seq", "error", "metrics", "cost"}
METRICS_FIELDS = {
    "queue_ms",
    "ttft_ms",
    "duration_ms",
    "tokens_per_s",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "usage_estimated",
}


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """The personas' passwords need not resist brute force here; hashing them slowly costs seconds."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def outsider(charlie) -> Client:
    from accounts.models import ApiToken

    return Client(headers={"authorization": f"Bearer {ApiToken.issue(charlie)[1]}"})


@pytest.fixture
def models() -> dict[str, Model]:
    """Two usable models (one priced, one not) and two that must never be offered."""
    deepseek = ProviderAccount.objects.create(name="DeepSeek test", kind="deepseek", base_url="http://127.0.0.1:9")
    deepseek.set_api_key("sk-deepseek-secret-0123456789")
    deepseek.save()
    off_account = ProviderAccount.objects.create(
        name="Off", kind="openai", base_url="http://127.0.0.1:9", enabled=False
    )
    chat = Model.objects.create(account=deepseek, name="deepseek-chat", display_name="DeepSeek Chat", position=0)
    Price.objects.create(
        model=chat,
        input=Decimal("0.28"),
        cached_input=Decimal("0.028"),
        output=Decimal("0.42"),
        effective_from=datetime(2025, 12, 1, tzinfo=UTC),
    )
    reasoner = Model.objects.create(
        account=deepseek, name="deepseek-reasoner", display_name="DeepSeek Reasoner", reasoning=True, position=1
    )
    disabled = Model.objects.create(account=deepseek, name="old", display_name="Old", enabled=False)
    orphaned = Model.objects.create(account=off_account, name="gpt-x", display_name="GPT X")
    return {"chat": chat, "reasoner": reasoner, "disabled": disabled, "orphaned": orphaned}


def post(client: Client, path: str, body) -> object:
    return client.post(path, json.dumps(body), content_type="application/json")


def assert_error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def assert_uuid(value: str) -> None:
    assert str(uuid.UUID(value)) == value


def submit(client: Client, canvas: Canvas, **body) -> object:
    return post(client, f"/api/canvases/{canvas.id}/prompts", body)


# --- models -------------------------------------------------------------------------------------


def test_it_lists_only_enabled_models_with_their_fields(api, models):
    response = api.get("/api/models")

    assert response.status_code == 200
    listed = {m["id"]: m for m in response.json()}
    assert set(listed) == {str(models["chat"].id), str(models["reasoner"].id)}
    chat = listed[str(models["chat"].id)]
    assert_uuid(chat["id"])
    assert chat["provider_kind"] == "deepseek"
    assert chat["model"] == "deepseek-chat"
    assert chat["display_name"] == "DeepSeek Chat"
    assert chat["reasoning"] is False
    assert chat["prices"] == {
        "input": "0.28",
        "cached_input": "0.028",
        "cache_write": None,
        "output": "0.42",
        "effective_from": "2025-12-01T00:00:00+00:00",
    }
    reasoner = listed[str(models["reasoner"].id)]
    assert reasoner["reasoning"] is True
    assert reasoner["prices"] is None


# --- canvases -----------------------------------------------------------------------------------


def test_it_creates_a_canvas_in_the_callers_personal_team(api, alice_team):
    response = post(api, "/api/canvases", {"title": "Benchmarks"})

    assert response.status_code == 201
    body = response.json()
    assert_uuid(body["id"])
    assert body["title"] == "Benchmarks"
    assert body["team"] == str(alice_team.id)
    assert Canvas.objects.get(pk=body["id"]).team == alice_team


@pytest.mark.parametrize("body", [{}, {"title": ""}, {"title": None}, {"title": 12, "team": []}])
def test_a_canvas_needs_a_title(api, alice, body):
    assert_error(post(api, "/api/canvases", body), 400)
    assert not Canvas.objects.exists()


def test_the_canvas_list_holds_only_canvases_the_caller_may_see(api, alice_canvas, charlie):
    charlie_canvas = Canvas.objects.create(team=charlie.teams.get(), title="Charlie's", created_by=charlie)

    response = api.get("/api/canvases")

    assert response.status_code == 200
    ids = [c["id"] for c in response.json()]
    assert ids == [str(alice_canvas.id)]
    assert str(charlie_canvas.id) not in ids


def test_a_canvas_comes_with_its_nodes_and_their_parents(api, alice, alice_canvas, models):
    prompt = Node.objects.create(canvas=alice_canvas, kind=NodeKind.PROMPT, text="Hi", created_by=alice)
    answer = Node.objects.create(
        canvas=alice_canvas, kind=NodeKind.RESPONSE, model=models["chat"], status="done", text="Hello"
    )
    Edge.objects.create(parent=prompt, child=answer)

    response = api.get(f"/api/canvases/{alice_canvas.id}")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(alice_canvas.id)
    assert body["title"] == "Alice's canvas"
    nodes = {n["id"]: n for n in body["nodes"]}
    assert set(nodes) == {str(prompt.id), str(answer.id)}
    assert NODE_FIELDS <= set(nodes[str(prompt.id)])
    assert nodes[str(prompt.id)]["parents"] == []
    assert nodes[str(answer.id)]["parents"] == [str(prompt.id)]
    assert NODE_FIELDS | RESPONSE_FIELDS <= set(nodes[str(answer.id)])
    assert nodes[str(answer.id)]["model"] == str(models["chat"].id)
    assert nodes[str(answer.id)]["text"] == "Hello"


# --- prompts ------------------------------------------------------------------------------------


def test_a_prompt_fans_out_to_one_queued_response_per_model(api, alice_canvas, models):
    chat, reasoner = str(models["chat"].id), str(models["reasoner"].id)

    response = submit(api, alice_canvas, text="Compare yourselves", models=[chat, reasoner])

    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"prompt", "responses", "warnings"} and body["warnings"] == []
    prompt = body["prompt"]
    assert_uuid(prompt["id"])
    assert prompt["kind"] == "prompt"
    assert prompt["text"] == "Compare yourselves"
    assert [r["model"] for r in body["responses"]] == [chat, reasoner]
    for answer in body["responses"]:
        assert_uuid(answer["id"])
        assert NODE_FIELDS | RESPONSE_FIELDS <= set(answer)
        assert METRICS_FIELDS <= set(answer["metrics"])
        assert answer["kind"] == "response"
        assert answer["status"] == "queued"
        assert answer["parents"] == [prompt["id"]]
        assert answer["text"] == ""
        assert answer["error"] is None
    assert Node.objects.filter(canvas=alice_canvas).count() == 3


def test_a_prompt_may_ask_the_same_model_twice(api, alice_canvas, models):
    chat = str(models["chat"].id)

    response = submit(api, alice_canvas, text="Twice", models=[chat, chat])

    assert response.status_code == 202
    answers = response.json()["responses"]
    assert [a["model"] for a in answers] == [chat, chat]
    assert answers[0]["id"] != answers[1]["id"]


def test_a_prompt_costs_the_same_queries_however_many_models_it_asks(api, alice_canvas, models):
    chat = str(models["chat"].id)

    def queries_to_submit(count: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert submit(api, alice_canvas, text=f"{count} answers", models=[chat] * count).status_code == 202
        return len(queries)

    queries_to_submit(1)  # the first use of the token notes when it was used (at most once a minute)
    assert queries_to_submit(1) == queries_to_submit(5)


def test_a_prompt_brings_its_canvas_to_the_top_of_the_list(api, alice, alice_team, alice_canvas, models):
    newer = Canvas.objects.create(team=alice_team, title="Newer", created_by=alice)
    assert [c["id"] for c in api.get("/api/canvases").json()][:2] == [str(newer.id), str(alice_canvas.id)]

    assert submit(api, alice_canvas, text="Back to this one", models=[str(models["chat"].id)]).status_code == 202

    assert [c["id"] for c in api.get("/api/canvases").json()][:2] == [str(alice_canvas.id), str(newer.id)]


def test_a_follow_up_names_its_parents(api, alice, alice_canvas, models):
    earlier = Node.objects.create(canvas=alice_canvas, kind=NodeKind.NOTE, text="Context", created_by=alice)
    other = Node.objects.create(canvas=alice_canvas, kind=NodeKind.NOTE, text="More", created_by=alice)

    response = submit(
        api, alice_canvas, text="Go on", models=[str(models["chat"].id)], parents=[str(earlier.id), str(other.id)]
    )

    assert response.status_code == 202
    prompt = response.json()["prompt"]
    assert prompt["parents"] == [str(earlier.id), str(other.id)]
    assert api.get(f"/api/nodes/{prompt['id']}").json()["parents"] == [str(earlier.id), str(other.id)]


@pytest.mark.parametrize("which", ["unknown", "garbage", "disabled", "orphaned"])
def test_a_prompt_to_a_model_that_is_not_offered_is_refused(api, alice_canvas, models, which):
    model_id = {"unknown": str(uuid.uuid4()), "garbage": "gpt-4"}.get(which) or str(models[which].id)

    assert_error(submit(api, alice_canvas, text="Hi", models=[str(models["chat"].id), model_id]), 400)
    assert not Node.objects.exists()


def test_a_parent_from_another_canvas_is_refused(api, alice, alice_canvas, models):
    elsewhere = Canvas.objects.create(team=alice_canvas.team, title="Elsewhere", created_by=alice)
    foreign = Node.objects.create(canvas=elsewhere, kind=NodeKind.NOTE, text="Not here")

    response = submit(api, alice_canvas, text="Hi", models=[str(models["chat"].id)], parents=[str(foreign.id)])

    assert_error(response, 400)
    assert not alice_canvas.nodes.exists()


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_an_empty_prompt_is_refused(api, alice_canvas, models, text):
    assert_error(submit(api, alice_canvas, text=text, models=[str(models["chat"].id)]), 400)
    assert not Node.objects.exists()


def test_a_prompt_without_models_is_refused(api, alice_canvas, models):
    assert_error(submit(api, alice_canvas, text="Hi", models=[]), 400)


@pytest.mark.parametrize("raw", ["not json", "{", "[1, 2]", '"text"', ""])
def test_a_body_that_is_not_a_json_object_is_refused(api, alice_canvas, models, raw):
    response = api.post(f"/api/canvases/{alice_canvas.id}/prompts", raw, content_type="application/json")

    assert_error(response, 400)


def test_a_body_cannot_choose_where_a_provider_is_called(api, alice_canvas, models):
    account = models["chat"].account

    response = submit(
        api,
        alice_canvas,
        text="Hi",
        models=[str(models["chat"].id)],
        base_url="http://evil.example/v1",
        api_key="sk-attacker",
        account={"base_url": "http://evil.example/v1"},
    )

    assert response.status_code == 202
    account.refresh_from_db()
    assert account.base_url == "http://127.0.0.1:9"
    assert account.api_key == "sk-deepseek-secret-0123456789"
    assert "evil.example" not in response.content.decode()


def test_a_prompt_may_ask_at_most_the_configured_number_of_models(api, alice_canvas, models, settings):
    settings.PRISM_MAX_MODELS_PER_PROMPT = 3
    chat = str(models["chat"].id)

    assert submit(api, alice_canvas, text="Three", models=[chat] * 3).status_code == 202
    assert_error(submit(api, alice_canvas, text="Four", models=[chat] * 4), 400)
    assert alice_canvas.nodes.count() == 4  # one prompt and three responses, from the first request only


def test_a_node_can_be_read_alone(api, alice_canvas, models):
    answer = submit(api, alice_canvas, text="Hi", models=[str(models["chat"].id)]).json()["responses"][0]

    response = api.get(f"/api/nodes/{answer['id']}")

    assert response.status_code == 200
    assert response.json() == answer


# --- authentication and access ------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer prism_not-a-real-token"}, {"authorization": "Basic YWxpY2U6cGFzcw=="}],
)
def test_a_caller_without_credentials_is_unauthenticated(alice_canvas, headers):
    client = Client(headers=headers)

    for response in (
        client.get("/api/models"),
        client.get("/api/canvases"),
        client.get(f"/api/canvases/{alice_canvas.id}"),
        post(client, "/api/canvases", {"title": "x"}),
    ):
        assert assert_error(response, 401)["code"] == "unauthenticated"


def test_an_outsider_learns_nothing_of_alices_canvas(outsider, alice, alice_canvas, models):
    note = Node.objects.create(canvas=alice_canvas, kind=NodeKind.NOTE, text="Private", created_by=alice)

    assert_error(outsider.get(f"/api/canvases/{alice_canvas.id}"), 404)
    assert_error(outsider.get(f"/api/nodes/{note.id}"), 404)
    assert_error(submit(outsider, alice_canvas, text="Hi", models=[str(models["chat"].id)]), 404)
    assert alice_canvas.nodes.count() == 1
    assert outsider.get("/api/canvases").json() == []


def test_an_outsider_gets_the_same_answer_as_for_a_canvas_that_does_not_exist(outsider, alice_canvas):
    mine = outsider.get(f"/api/canvases/{alice_canvas.id}").json()
    nobodys = outsider.get(f"/api/canvases/{uuid.uuid4()}").json()

    assert mine == nobodys


@pytest.mark.parametrize("garbage", ["1", "abc", "..%2F..", "00000000-0000-0000-0000", "%00"])
def test_ids_that_are_not_uuids_are_not_found(api, alice_canvas, models, garbage):
    assert_error(api.get(f"/api/canvases/{garbage}"), 404)
    assert_error(api.get(f"/api/nodes/{garbage}"), 404)
    assert_error(submit(api, alice_canvas, text="Hi", models=[str(models["chat"].id)], parents=[garbage]), 400)


def test_the_session_of_a_signed_in_browser_is_accepted(alice, alice_canvas):
    client = Client()
    client.force_login(alice)

    response = client.get(f"/api/canvases/{alice_canvas.id}")

    assert response.status_code == 200
    assert response.json()["id"] == str(alice_canvas.id)
    assert post(client, "/api/canvases", {"title": "From the browser"}).status_code == 201


def test_a_session_post_without_its_csrf_token_is_refused(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = post(client, "/api/canvases", {"title": "Forged"})

    assert_error(response, 403)
    assert not Canvas.objects.exists()


def test_a_bearer_post_needs_no_csrf_token(alice_token, alice):
    client = Client(enforce_csrf_checks=True, headers={"authorization": f"Bearer {alice_token}"})

    assert post(client, "/api/canvases", {"title": "From a script"}).status_code == 201


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/nope", "/api/canvases/x/y/z", "/api/", "/api/models/extra"])
def test_an_unknown_path_is_a_json_404(api, path):
    assert_error(api.get(path), 404)


def test_an_unknown_path_is_a_json_404_even_without_credentials():
    assert_error(Client().get("/api/nope"), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [("delete", "/api/models"), ("put", "/api/canvases"), ("patch", "/api/models"), ("post", "/api/models")],
)
def test_a_wrong_method_is_a_json_405(api, method, path):
    response = getattr(api, method)(path, "{}", content_type="application/json")

    assert_error(response, 405)


def test_a_body_over_the_upload_limit_is_a_json_413(api, alice_canvas, models, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    text = "x" * 20_000

    response = submit(api, alice_canvas, text=text, models=[str(models["chat"].id)])

    assert_error(response, 413)
    assert not Node.objects.exists()


def test_the_openapi_document_describes_every_endpoint(api):
    response = Client().get("/api/openapi.json")

    assert response.status_code == 200
    document = json.loads(response.content)
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path in (
        "/api/models",
        "/api/canvases",
        "/api/canvases/{canvas_id}",
        "/api/canvases/{canvas_id}/prompts",
        "/api/nodes/{node_id}",
    ):
        assert path in paths
    assert "post" in paths["/api/canvases/{canvas_id}/prompts"]
