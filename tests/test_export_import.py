"""A canvas as a file: the JSON export imports back into a new canvas; the Markdown export reads well."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from django.test import Client

from accounts.models import ApiToken
from canvas.models import Canvas, Membership, Node, NodeKind, Role, Team
from canvas.services import create_note, create_prompt
from engine.context import context_for_response
from providers.models import Model, ProviderAccount

pytestmark = pytest.mark.django_db

KEY = "sk-export-secret-0123456789"
BASE_URL = "http://10.1.2.3:8000/v1"


def client_for(user) -> Client:
    return Client(headers={"authorization": f"Bearer {ApiToken.issue(user)[1]}"})


@pytest.fixture
def bob(django_user_model, alice_team):
    """A viewer in alice's team."""
    user = django_user_model.objects.create_user("bob", password="bob-password-1", email="bob@example.com")
    Membership.objects.create(team=alice_team, user=user, role=Role.VIEWER)
    return user


@pytest.fixture
def models() -> dict[str, Model]:
    account = ProviderAccount.objects.create(name="Self-hosted", kind="vllm", base_url=BASE_URL)
    account.set_api_key(KEY)
    account.save()
    claude = ProviderAccount.objects.create(name="Claude", kind="anthropic")
    return {
        "deepseek": Model.objects.create(account=account, name="deepseek-r1", display_name="DeepSeek R1 (ours)"),
        "claude": Model.objects.create(account=claude, name="claude-haiku-5-5", display_name="Claude Haiku"),
    }


@pytest.fixture
def canvas(alice, alice_canvas, models) -> Canvas:
    """A thread with a fan-out, a follow-up, a merge, a note, reasoning, a failure and a cost."""
    alice.email = "alice@example.com"
    alice.save()
    alice_canvas.system_prompt = "Answer in English."
    alice_canvas.save()
    prompt, [left, right], _ = create_prompt(alice_canvas, alice, "Why is the sky blue?", list(models.values()), [])
    done(left, "Rayleigh scattering.", reasoning="Short wavelengths scatter more.", cost=Decimal("0.0001234"))
    done(right, "Partial answ", status="error", error=("stream_cut", "The provider closed the connection."))
    note = create_note(alice_canvas, alice, "Check with a physicist.\nSecond line.", [left])
    _, [merged], _ = create_prompt(alice_canvas, alice, "Combine both.", [models["claude"]], [note, right])
    done(merged, "Both say scattering.")
    return alice_canvas


def done(node: Node, text: str, *, status: str = "done", reasoning: str = "", cost=None, error=None) -> Node:
    node.text, node.status, node.reasoning, node.cost, node.finish_reason = text, status, reasoning, cost, "stop"
    node.ttft_ms, node.duration_ms, node.tokens_per_s = 210, 1500, 42.5
    node.input_tokens, node.output_tokens, node.reasoning_tokens = 30, 60, 6
    if error:
        node.error_code, node.error_message, node.finish_reason = *error, ""
    node.save()
    return node


def export(client: Client, canvas: Canvas, fmt: str | None = "json"):
    query = f"?format={fmt}" if fmt else ""
    return client.get(f"/api/canvases/{canvas.id}/export{query}")


def import_file(client: Client, data, query: str = ""):
    raw = data if isinstance(data, str) else json.dumps(data)
    return client.post(f"/api/canvases/import{query}", raw, content_type="application/json")


def assert_error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()["error"]


def without_ids(file: dict) -> dict:
    """The file with each node id replaced by its position, so two exports compare by content."""
    position = {node["id"]: i for i, node in enumerate(file["nodes"])}
    nodes = [
        {**node, "id": position[node["id"]], "parents": [position[p] for p in node["parents"]]}
        for node in file["nodes"]
    ]
    return {**file, "nodes": nodes}


# --- JSON export ---------------------------------------------------------------------------------------


def test_the_json_export_holds_every_node_parents_first(api, canvas, models):
    response = export(api, canvas, fmt=None)

    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"]
    file = response.json()
    assert (file["format"], file["version"]) == ("prism.canvas", 1)
    assert file["canvas"] == {"title": "Alice's canvas", "system_prompt": "Answer in English."}
    kinds = [n["kind"] for n in file["nodes"]]
    assert kinds == ["prompt", "response", "response", "note", "prompt", "response"]
    seen: set = set()
    for node in file["nodes"]:
        assert set(node["parents"]) <= seen
        seen.add(node["id"])
    first = file["nodes"][1]
    assert first["model"] == {"provider_kind": "vllm", "model": "deepseek-r1", "display_name": "DeepSeek R1 (ours)"}
    assert first["reasoning"] == "Short wavelengths scatter more." and first["cost"] == "0.0001234"
    assert first["metrics"]["ttft_ms"] == 210 and first["finish_reason"] == "stop"
    assert file["nodes"][2]["error"] == {"code": "stream_cut", "message": "The provider closed the connection."}
    assert "model" not in file["nodes"][0] and "canvas" not in file["nodes"][0]


def test_no_export_ever_holds_a_key_a_base_url_an_internal_id_or_an_email(api, canvas, models):
    for fmt in ("json", "md"):
        raw = export(api, canvas, fmt).content.decode()
        for secret in (KEY, BASE_URL, "10.1.2.3", "alice@example.com", str(models["deepseek"].id), str(canvas.team_id)):
            assert secret not in raw, (fmt, secret)


def test_a_canvas_without_a_system_prompt_exports_none(api, alice_canvas):
    assert export(api, alice_canvas).json()["canvas"] == {"title": "Alice's canvas"}


@pytest.mark.parametrize("fmt", ["pdf", "JSON", "markdown", "md;"])
def test_an_unknown_export_format_is_refused(api, canvas, fmt):
    assert_error(export(api, canvas, fmt), 400)


def test_a_viewer_may_export_and_an_outsider_learns_nothing(bob, charlie, canvas):
    assert export(client_for(bob), canvas).status_code == 200
    assert_error(export(client_for(charlie), canvas), 404)
    assert_error(export(client_for(charlie), canvas, "md"), 404)


# --- Markdown export -----------------------------------------------------------------------------------


def test_the_markdown_export_reads_as_a_document(api, canvas):
    response = export(api, canvas, "md")

    assert response.status_code == 200 and response["Content-Type"].startswith("text/markdown")
    text = response.content.decode()
    assert text.startswith("# Alice's canvas\n")
    assert text.index("## Prompt\n\nWhy is the sky blue?") < text.index("### DeepSeek R1 (ours)")
    assert text.index("### DeepSeek R1 (ours)") < text.index("### Claude Haiku") < text.index("Combine both.")
    assert "210 ms to first token" in text and "42.5 tokens/s" in text and "$0.0001234" in text
    assert "<details>\n<summary>Reasoning</summary>\n\nShort wavelengths scatter more.\n\n</details>" in text
    assert "> Check with a physicist.\n> Second line." in text
    assert "stream_cut" in text and "Partial answ" in text


def test_the_markdown_export_writes_each_answers_cost_as_the_pages_do(api, alice, alice_canvas, models):
    _, answers, _ = create_prompt(alice_canvas, alice, "Which?", [models["deepseek"]] * 3, [])
    done(answers[0], "Tokens, no price.")  # 30 in, 60 out, no cost
    done(answers[1], "", status="error", error=("auth", "Refused."))
    Node.objects.filter(pk=answers[1].pk).update(input_tokens=0, output_tokens=0)  # refused before any token

    text = export(api, alice_canvas, "md").content.decode()

    metrics = [line for line in text.splitlines() if line.startswith("*") and " · " in line]
    assert [line.rsplit(" · ", 1)[-1] for line in metrics] == ["no price*", "$0*", "cost unknown yet*"]


# --- import --------------------------------------------------------------------------------------------


def test_an_export_imports_into_a_new_canvas_that_exports_the_same(api, canvas, alice_team):
    file = export(api, canvas).json()

    response = import_file(api, file)

    assert response.status_code == 201
    imported = response.json()
    assert imported["id"] != str(canvas.id) and imported["team"] == str(alice_team.id)
    assert not {n["id"] for n in imported["nodes"]} & {n["id"] for n in file["nodes"]}
    again = export(api, Canvas.objects.get(id=imported["id"])).json()
    assert without_ids(again) == without_ids(file)


def test_imported_responses_get_the_same_context_as_the_originals(api, canvas):
    imported = Canvas.objects.get(id=import_file(api, export(api, canvas).json()).json()["id"])

    original = [context_for_response(n) for n in canvas.nodes.filter(kind=NodeKind.RESPONSE).order_by("created_at")]
    copy = [context_for_response(n) for n in imported.nodes.filter(kind=NodeKind.RESPONSE).order_by("created_at")]
    assert copy == original


def test_imported_responses_find_the_local_model_or_none(api, canvas, models):
    file = export(api, canvas).json()
    file["nodes"][1]["model"] = {"provider_kind": "openai", "model": "gpt-9", "display_name": "Elsewhere"}

    nodes = import_file(api, file).json()["nodes"]

    models_by_text = {n["text"]: n["model"] for n in nodes if n["kind"] == "response"}
    assert models_by_text == {
        "Rayleigh scattering.": None,
        "Partial answ": str(models["claude"].id),
        "Both say scattering.": str(models["claude"].id),
    }


@pytest.mark.parametrize("status", ["queued", "streaming"])
def test_a_run_that_had_not_finished_is_imported_as_interrupted(api, canvas, status):
    file = export(api, canvas).json()
    file["nodes"][-1]["status"] = status

    last = import_file(api, file).json()["nodes"][-1]

    assert last["status"] == "interrupted" and last["error"]["code"] == "interrupted"
    assert last["text"] == "Both say scattering."


def test_a_file_without_optional_fields_imports(api):
    file = {
        "format": "prism.canvas",
        "version": 1,
        "canvas": {"title": "Minimal"},
        "nodes": [
            {"id": "a", "kind": "prompt", "text": "Hi"},
            {"id": "b", "kind": "response", "parents": ["a"], "status": "done", "text": "Hello"},
        ],
    }

    response = import_file(api, file)

    assert response.status_code == 201
    prompt, answer = response.json()["nodes"]
    assert answer["parents"] == [prompt["id"]] and answer["model"] is None and answer["metrics"]["ttft_ms"] is None


def test_a_team_may_be_chosen_in_the_query_or_the_body(api, alice, canvas):
    shared = Team.objects.create(name="Shared")
    Membership.objects.create(team=shared, user=alice, role=Role.EDITOR)
    file = export(api, canvas).json()

    assert import_file(api, file, f"?team={shared.id}").json()["team"] == str(shared.id)
    assert import_file(api, {**file, "team": str(shared.id)}).json()["team"] == str(shared.id)


def test_nobody_imports_into_a_team_they_cannot_write_to(api, bob, charlie, canvas, alice_team):
    file = export(api, canvas).json()
    count = Canvas.objects.count()

    assert_error(import_file(client_for(bob), file, f"?team={alice_team.id}"), 403)
    assert_error(import_file(client_for(charlie), file, f"?team={alice_team.id}"), 404)
    assert_error(import_file(api, file, f"?team={uuid.uuid4()}"), 404)
    assert Canvas.objects.count() == count


def node(node_id: str, *parents: str, kind: str = "prompt", **fields) -> dict:
    return {"id": node_id, "kind": kind, "parents": list(parents), "text": "t", **fields}


def canvas_file(*nodes: dict, **top) -> dict:
    return {"format": "prism.canvas", "version": 1, "canvas": {"title": "T"}, "nodes": list(nodes), **top}


@pytest.mark.parametrize(
    "file",
    [
        canvas_file(node("a"), format="other.canvas"),
        canvas_file(node("a"), version=2),
        canvas_file(node("a"), version="1"),
        {"version": 1, "canvas": {"title": "T"}, "nodes": []},
        canvas_file(node("a"), canvas={"title": ""}),
        canvas_file(node("a"), node("b", "ghost")),
        canvas_file(node("a", "b"), node("b", "a")),
        canvas_file(node("a", "a")),
        canvas_file(node("a"), node("a")),
        canvas_file(node("a"), node("b", "a", "a")),
        canvas_file(node("a", kind="picture")),
        canvas_file(node("a"), node("b", "a", kind="response")),
        canvas_file(node("a"), node("b", "a", kind="response", status="finished")),
        canvas_file(node("a", x=float("inf"))),
        canvas_file(node("a", w=0)),
        canvas_file(node("a"), node("b", "a", kind="response", status="done", metrics={"ttft_ms": -1})),
        canvas_file(node("a"), node("b", "a", kind="response", status="done", metrics={"ttft_ms": 2**40})),
        canvas_file(node("a"), node("b", "a", kind="response", status="done", cost="-1")),
        canvas_file(node("a"), node("b", "a", kind="response", status="done", cost="lots")),
        canvas_file(node("a"), node("b", "a", kind="response", status="error", error={"code": "x" * 30})),
        canvas_file(node("a"), node("b", "a", kind="response", status="done", finish_reason="tired")),
        canvas_file(node("a", created_at="yesterday")),
        canvas_file({"kind": "prompt"}),
        [canvas_file(node("a"))],
        "not json",
    ],
)
def test_a_file_that_is_not_a_valid_canvas_is_refused(api, file):
    count = Canvas.objects.count()

    assert_error(import_file(api, file), 400)
    assert Canvas.objects.count() == count and not Node.objects.exists()


def test_an_oversized_file_is_refused(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    file = canvas_file(node("a", text="x" * 20_000))

    assert_error(import_file(api, file), 413)
    assert not Canvas.objects.exists()


def test_import_needs_a_signed_in_caller(canvas):
    assert_error(import_file(Client(), canvas_file(node("a"))), 401)


def test_import_takes_only_post(api):
    assert_error(api.get("/api/canvases/import"), 405)
