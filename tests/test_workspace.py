"""Canvas management through the API: rename and tag, delete and restore (and the purge 30 days on),
duplicate, delete nodes, and search across every canvas the caller may see. What deleted answers cost
keeps counting in usage. Who may do what is also in tests/test_access_matrix.py."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.postgres.search import SearchQuery
from django.db import connection
from django.test import Client
from django.utils import timezone

from canvas import search, trash
from canvas.models import Canvas, Comment, Edge, Membership, Node, NodeKind, NodeStatus, Role, Vote
from tests.usage_world import model_of, run, signed_in

pytestmark = pytest.mark.django_db


def send(client: Client, method: str, path: str, body=None):
    kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
    return client.generic(method, f"/api{path}", **kwargs)


@pytest.fixture
def bob(django_user_model, alice_team):
    """A viewer of alice's team."""
    bob = django_user_model.objects.create_user("bob", password="bob-password-1")
    Membership.objects.create(team=alice_team, user=bob, role=Role.VIEWER)
    return bob


@pytest.fixture
def model():
    return model_of("OpenAI", "gpt-mini")


def node(canvas, kind, text="", parents=(), **fields) -> Node:
    made = Node.objects.create(canvas=canvas, kind=kind, text=text, created_by=canvas.created_by, **fields)
    for i, parent in enumerate(parents):
        Edge.objects.create(parent=parent, child=made, position=i)
    return made


def answer(canvas, prompt, model, text="", cost="0.0012345678", **fields) -> Node:
    price = None if cost is None else Decimal(cost)
    figures = {"status": NodeStatus.DONE, "input_tokens": 100, "output_tokens": 40, "cost": price}
    made = run(canvas, model, canvas.created_by, timezone.now(), text=text, **(figures | fields))
    Edge.objects.create(parent=prompt, child=made)
    return made


def team_usage(client, team) -> dict:
    response = send(client, "GET", f"/teams/{team.id}/usage")
    assert response.status_code == 200
    return response.json()["total"]


# --- rename and tags ------------------------------------------------------------------------------------


def test_a_canvas_is_renamed_and_tagged(api, alice_canvas):
    body = {"title": "Poems", "tags": [" eval ", "poems", "eval"]}

    response = send(api, "PATCH", f"/canvases/{alice_canvas.id}", body)

    assert response.status_code == 200
    assert (response.json()["title"], response.json()["tags"]) == ("Poems", ["eval", "poems"])
    assert send(api, "GET", f"/canvases/{alice_canvas.id}").json()["tags"] == ["eval", "poems"]
    alice_canvas.refresh_from_db()
    assert alice_canvas.tags == ["eval", "poems"]


@pytest.mark.parametrize(
    "tags", [["x"] * 21, ["x" * 41], [""], "eval", [3]], ids=["too many", "too long", "empty", "a string", "a number"]
)
def test_tags_are_bounded(api, alice_canvas, tags):
    response = send(api, "PATCH", f"/canvases/{alice_canvas.id}", {"tags": tags})

    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"
    alice_canvas.refresh_from_db()
    assert alice_canvas.tags == []


# --- delete and restore ---------------------------------------------------------------------------------


def test_a_deleted_canvas_is_gone_everywhere_until_restored(api, alice, alice_canvas, model):
    prompt = node(alice_canvas, NodeKind.PROMPT, "Hello")
    reply = answer(alice_canvas, prompt, model, "Hi there")
    page = signed_in(alice)

    assert send(api, "DELETE", f"/canvases/{alice_canvas.id}").status_code == 204

    assert send(api, "GET", f"/canvases/{alice_canvas.id}").status_code == 404
    assert send(api, "GET", f"/nodes/{reply.id}").status_code == 404
    assert send(api, "GET", f"/canvases/{alice_canvas.id}/export").status_code == 404
    assert send(api, "POST", f"/canvases/{alice_canvas.id}/notes", {"text": "x"}).status_code == 404
    assert str(alice_canvas.id) not in [c["id"] for c in send(api, "GET", "/canvases").json()]
    assert page.get(f"/canvases/{alice_canvas.id}/").status_code == 404
    assert "Alice&#x27;s canvas" not in page.get("/").content.decode().split("Recently deleted")[0]

    restored = send(api, "POST", f"/canvases/{alice_canvas.id}/restore")

    assert restored.status_code == 200 and restored.json()["id"] == str(alice_canvas.id)
    nodes = send(api, "GET", f"/canvases/{alice_canvas.id}").json()["nodes"]
    assert {n["text"] for n in nodes} == {"Hello", "Hi there"}


def test_restoring_a_canvas_that_is_not_deleted_is_not_found(api, alice_canvas):
    assert send(api, "POST", f"/canvases/{alice_canvas.id}/restore").status_code == 404


def test_a_canvas_can_be_restored_for_30_days_only(api, alice_canvas):
    send(api, "DELETE", f"/canvases/{alice_canvas.id}")
    Canvas.objects.filter(pk=alice_canvas.pk).update(deleted_at=timezone.now() - timedelta(days=30, minutes=1))

    assert send(api, "POST", f"/canvases/{alice_canvas.id}/restore").status_code == 404


def test_viewers_may_not_delete_or_restore(bob, alice_canvas):
    viewer = signed_in(bob)

    assert send(viewer, "DELETE", f"/canvases/{alice_canvas.id}").status_code == 403
    trash.delete_canvas(alice_canvas)
    assert send(viewer, "POST", f"/canvases/{alice_canvas.id}/restore").status_code == 403


def test_outsiders_learn_nothing_of_a_deleted_canvas(charlie, api, alice_canvas):
    outsider = signed_in(charlie)
    send(api, "DELETE", f"/canvases/{alice_canvas.id}")

    response = send(outsider, "POST", f"/canvases/{alice_canvas.id}/restore")

    assert response.status_code == 404
    assert Canvas.objects.get(pk=alice_canvas.pk).deleted_at is not None


def test_deleting_a_canvas_stops_its_runs(api, alice_canvas, model):
    prompt = node(alice_canvas, NodeKind.PROMPT, "Hello")
    queued = answer(alice_canvas, prompt, model, status=NodeStatus.QUEUED, cost=None)

    send(api, "DELETE", f"/canvases/{alice_canvas.id}")

    queued.refresh_from_db()
    assert queued.status == NodeStatus.CANCELLED


def test_a_deleted_canvas_no_longer_counts_against_the_quota(api, alice_canvas, settings):
    settings.PRISM_MAX_CANVASES_PER_USER = 1
    assert send(api, "POST", "/canvases", {"title": "Second"}).status_code == 403

    send(api, "DELETE", f"/canvases/{alice_canvas.id}")
    second = send(api, "POST", "/canvases", {"title": "Second"})

    assert second.status_code == 201
    refused = send(api, "POST", f"/canvases/{alice_canvas.id}/restore")  # it would be one too many again
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "quota"


# --- what deleted answers cost keeps counting ------------------------------------------------------------


def test_usage_counts_a_deleted_and_then_purged_canvass_answers(api, alice, alice_team, alice_canvas, model):
    prompt = node(alice_canvas, NodeKind.PROMPT, "Hello")
    answer(alice_canvas, prompt, model, "One", cost="0.0010000001")
    answer(alice_canvas, prompt, model, "Two", cost="0.0020000002")
    before = team_usage(api, alice_team)
    assert (before["runs"], before["cost"]) == (2, "0.0030000003")

    send(api, "DELETE", f"/canvases/{alice_canvas.id}")
    assert team_usage(api, alice_team) == before

    Canvas.objects.filter(pk=alice_canvas.pk).update(deleted_at=timezone.now() - timedelta(days=31))
    assert trash.purge_deleted() == 1

    assert not Canvas.objects.filter(pk=alice_canvas.pk).exists()
    assert team_usage(api, alice_team) == before
    kept = list(Node.objects.filter(billed_team=alice_team).values_list("canvas_id", "text", "cost"))
    assert sorted(kept) == [(None, "", Decimal("0.0010000001")), (None, "", Decimal("0.0020000002"))]
    assert not Node.objects.filter(pk=prompt.pk).exists()


def test_the_purge_keeps_what_can_still_be_restored(alice_canvas, alice_team, alice):
    recent = Canvas.objects.create(team=alice_team, title="Recent", created_by=alice, deleted_at=timezone.now())
    Canvas.objects.filter(pk=alice_canvas.pk).update(deleted_at=timezone.now() - timedelta(days=29))

    assert trash.purge_deleted() == 0
    assert Canvas.objects.filter(pk__in=[recent.pk, alice_canvas.pk]).count() == 2


def test_the_purge_runs_as_a_periodic_task(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["purge-deleted-canvases"]
    assert entry["task"] == "canvas.tasks.purge_deleted_canvases"
    from canvas.tasks import purge_deleted_canvases

    assert purge_deleted_canvases.name == entry["task"]


# --- duplicate ------------------------------------------------------------------------------------------


def test_a_duplicate_copies_every_node_and_the_graph_without_billing_again(api, alice_team, alice_canvas, model):
    Canvas.objects.filter(pk=alice_canvas.pk).update(tags=["eval"], system_prompt="Be brief.", blind=True)
    prompt = node(alice_canvas, NodeKind.PROMPT, "Hello", blind=True)
    one = answer(alice_canvas, prompt, model, "One", label="A")
    two = answer(alice_canvas, prompt, model, "Two", label="B", status=NodeStatus.STREAMING)
    note(alice_canvas, "A note", [one, two])
    usage = team_usage(api, alice_team)

    response = send(api, "POST", f"/canvases/{alice_canvas.id}/duplicate")

    assert response.status_code == 201
    copy = response.json()
    assert (copy["title"], copy["tags"], copy["system_prompt"], copy["blind"]) == (
        "Alice's canvas (copy)", ["eval"], "Be brief.", True)  # fmt: skip
    original = shape(send(api, "GET", f"/canvases/{alice_canvas.id}").json()["nodes"])
    copied = shape(send(api, "GET", f"/canvases/{copy['id']}").json()["nodes"])
    assert copied == original
    copied_ids = {n.pk for n in Node.objects.filter(canvas_id=copy["id"])}
    assert len(copied_ids) == 4 and not copied_ids & {n.pk for n in Node.objects.filter(canvas=alice_canvas)}
    assert not Node.objects.filter(canvas_id=copy["id"], billed_team__isnull=False).exists()
    assert Node.objects.get(canvas_id=copy["id"], label="B").status == NodeStatus.INTERRUPTED
    assert team_usage(api, alice_team) == usage


def note(canvas, text, parents) -> Node:
    return node(canvas, NodeKind.NOTE, text, parents)


def shape(nodes: list[dict]) -> list[tuple]:
    """The nodes by text, with their parents by text: the same for a copy under new ids."""
    text = {n["id"]: n["text"] for n in nodes}
    return sorted((n["kind"], n["text"], n.get("label"), tuple(text[p] for p in n["parents"])) for n in nodes)


def test_a_duplicate_counts_against_the_quota(api, alice_canvas, settings):
    settings.PRISM_MAX_CANVASES_PER_USER = 1

    response = send(api, "POST", f"/canvases/{alice_canvas.id}/duplicate")

    assert response.status_code == 403 and response.json()["error"]["code"] == "quota"


# --- deleting nodes -------------------------------------------------------------------------------------


def test_a_prompt_goes_with_its_answers_and_what_they_cost_still_counts(api, alice, alice_team, alice_canvas, model):
    prompt = node(alice_canvas, NodeKind.PROMPT, "Hello")
    one = answer(alice_canvas, prompt, model, "One")
    two = answer(alice_canvas, prompt, model, "Two")
    follow = node(alice_canvas, NodeKind.PROMPT, "And then?", [one])
    Comment.objects.create(node=one, author=alice, text="Nice")
    Vote.objects.create(canvas=alice_canvas, prompt=prompt, a=one, b=two, model_a=model, model_b=model,
                        outcome="a", user=alice)  # fmt: skip
    usage = team_usage(api, alice_team)

    assert send(api, "DELETE", f"/nodes/{prompt.id}").status_code == 204

    left = send(api, "GET", f"/canvases/{alice_canvas.id}").json()["nodes"]
    assert [(n["id"], n["parents"]) for n in left] == [(str(follow.id), [])]
    assert send(api, "GET", f"/nodes/{one.id}").status_code == 404
    assert not Vote.objects.exists() and not Comment.objects.exists()
    assert team_usage(api, alice_team) == usage


def test_a_note_or_a_single_answer_can_be_deleted(api, alice_canvas, model):
    prompt = node(alice_canvas, NodeKind.PROMPT, "Hello")
    one = answer(alice_canvas, prompt, model, "One")
    two = answer(alice_canvas, prompt, model, "Two")
    aside = note(alice_canvas, "Aside", [])

    assert send(api, "DELETE", f"/nodes/{one.id}").status_code == 204
    assert send(api, "DELETE", f"/nodes/{aside.id}").status_code == 204

    left = {n["id"] for n in send(api, "GET", f"/canvases/{alice_canvas.id}").json()["nodes"]}
    assert left == {str(prompt.id), str(two.id)}


@pytest.mark.parametrize("status", [NodeStatus.QUEUED, NodeStatus.STREAMING])
@pytest.mark.parametrize("target", ["answer", "prompt"])
def test_nothing_running_is_deleted(api, alice_canvas, model, status, target):
    prompt = node(alice_canvas, NodeKind.PROMPT, "Hello")
    running = answer(alice_canvas, prompt, model, status=status, cost=None)

    response = send(api, "DELETE", f"/nodes/{(running if target == 'answer' else prompt).id}")

    assert response.status_code == 409 and response.json()["error"]["code"] == "running"
    assert Node.objects.filter(pk__in=[prompt.pk, running.pk], canvas=alice_canvas).count() == 2


def test_viewers_may_not_delete_nodes_and_outsiders_learn_nothing(bob, charlie, alice_canvas):
    aside = note(alice_canvas, "Aside", [])

    assert send(signed_in(bob), "DELETE", f"/nodes/{aside.id}").status_code == 403
    assert send(signed_in(charlie), "DELETE", f"/nodes/{aside.id}").status_code == 404
    assert Node.objects.filter(pk=aside.pk).exists()


# --- search ---------------------------------------------------------------------------------------------


@pytest.fixture
def searchable(alice, alice_team, alice_canvas, charlie, model):
    """Alice's canvas with a prompt, an answer and a note; a deleted canvas of hers; charlie's canvas."""
    Canvas.objects.filter(pk=alice_canvas.pk).update(title="Sonnets about harbours")
    prompt = node(alice_canvas, NodeKind.PROMPT, "Write a sonnet about lighthouses")
    answer(alice_canvas, prompt, model, "The keeper climbs the winding stair at dusk, the lamp is lit.")
    note(alice_canvas, "Compare the rhymes of the lighthouse poems", [])
    gone = Canvas.objects.create(team=alice_team, title="Lighthouse drafts", created_by=alice)
    node(gone, NodeKind.PROMPT, "A lighthouse limerick")
    trash.delete_canvas(gone)
    theirs = Canvas.objects.create(team=charlie.teams.get(), title="Charlie's lighthouse", created_by=charlie)
    node(theirs, NodeKind.PROMPT, "Lighthouse keepers of Maine")
    return alice_canvas


@pytest.mark.parametrize("full_text", [True, False], ids=["full text", "embedded"])
def test_search_finds_prompts_notes_and_answers_of_visible_canvases_only(alice, searchable, full_text):
    query = "lighthouse" if not full_text else "lighthouses"  # full text stems: lighthouse(s) alike

    found = search.search(alice, query, full_text=full_text)

    assert {r["canvas"] for r in found} == {str(searchable.id)}
    texts = {Node.objects.get(pk=r["node"]).text for r in found}
    assert texts == {"Write a sonnet about lighthouses", "Compare the rhymes of the lighthouse poems"}
    assert all(r["title"] == "Sonnets about harbours" and "lighthouse" in r["snippet"].lower() for r in found)


@pytest.mark.parametrize("full_text", [True, False], ids=["full text", "embedded"])
def test_search_finds_titles_and_answers(alice, searchable, full_text):
    titles = search.search(alice, "sonnets harbours", full_text=full_text)
    answers = search.search(alice, "keeper winding", full_text=full_text)

    assert [(r["node"], r["snippet"]) for r in titles][0] == (None, "Sonnets about harbours")
    assert len(answers) == 1 and answers[0]["snippet"].startswith("The keeper climbs the winding")
    assert Node.objects.get(pk=answers[0]["node"]).kind == NodeKind.RESPONSE


def test_the_search_api_answers_for_the_caller_only(api, charlie, searchable):
    mine = send(api, "GET", "/search?q=lighthouse")
    theirs = send(signed_in(charlie), "GET", "/search?q=lighthouse")

    assert mine.status_code == 200 and {r["canvas"] for r in mine.json()} == {str(searchable.id)}
    assert set(mine.json()[0]) == {"canvas", "title", "node", "snippet"}
    assert {r["title"] for r in theirs.json()} == {"Charlie's lighthouse"}


@pytest.mark.parametrize("query", ["", "%20%20", "%00"])
def test_a_blank_search_finds_nothing(api, searchable, query):
    response = send(api, "GET", f"/search?q={query}")

    assert (response.status_code, response.json()) == (200, [])


@pytest.mark.parametrize("query", [None, "x" * 201])
def test_a_search_needs_a_query_of_bounded_length(api, query):
    response = send(api, "GET", "/search" if query is None else f"/search?q={query}")

    assert response.status_code == 400 and response.json()["error"]["code"]


def test_full_text_search_reads_the_text_index(alice, searchable):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: else PostgreSQL rightly reads it whole
        query = SearchQuery("lighthouse", config=search.CONFIG, search_type="websearch")
        plan = search.text_matches(query).explain()

    assert "node_ended_text_search_idx" in plan


@pytest.mark.parametrize("full_text", [True, False], ids=["full text", "embedded"])
def test_an_answer_is_found_once_it_has_ended(alice, alice_canvas, model, full_text):
    prompt = node(alice_canvas, NodeKind.PROMPT, "Tell me about the sea")
    running = answer(alice_canvas, prompt, model, "The albatross glides", status=NodeStatus.STREAMING)

    while_running = search.search(alice, "albatross", full_text=full_text)
    Node.objects.filter(pk=running.pk).update(status=NodeStatus.DONE)
    once_ended = search.search(alice, "albatross", full_text=full_text)

    assert while_running == [] and [r["node"] for r in once_ended] == [str(running.id)]


def test_the_text_index_leaves_out_streaming_answers(alice):
    """A streaming answer's partial text is saved every second: stemming it into the index each time cost
    PostgreSQL bursts of a core at a hundred streams (migration 0012). One index of node texts, partial."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'canvas_node' AND indexdef LIKE %s",
            ["%to_tsvector%"],
        )
        indexes = cursor.fetchall()

    assert [name for name, _ in indexes] == ["node_ended_text_search_idx"]
    running = "ARRAY['queued'::character varying, 'streaming'::character varying]"
    assert indexes[0][1].endswith(f"WHERE ((status)::text <> ALL (({running})::text[]))")


def test_a_long_answer_is_stored_compressed_with_lz4(alice, alice_canvas, model):
    """Rewritten whole at every save while it streams: LZ4 costs the database a third of pglz's time
    (migration 0013)."""
    prompt = node(alice_canvas, NodeKind.PROMPT, "Tell me about the sea")
    long = answer(alice_canvas, prompt, model, "The albatross glides over the grey sea. " * 200)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_column_compression(text) FROM canvas_node WHERE id = %s", [long.id])
        compression = cursor.fetchone()[0]

    assert compression == "lz4"


def test_a_deleted_answer_is_never_found(alice, alice_canvas, model):
    prompt = node(alice_canvas, NodeKind.PROMPT, "Hello")
    answer(alice_canvas, prompt, model, "Zanzibar")
    trash.delete_node(prompt)

    assert search.search(alice, "Zanzibar") == [] and search.search(alice, "Zanzibar", full_text=False) == []
