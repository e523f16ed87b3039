"""Who may do what, everywhere: every API endpoint, every page and the WebSocket, against six personas.

The personas (tests/team_world.py): anonymous; outsider (charlie: signed in, owns team B, not in team A);
viewer (bob), editor (dave) and owner (alice) of team A; share (an anonymous browser that opened a share
link of canvas A). The rules (canvas/access.py): the API answers 401 to anyone not signed in (a share
link opens no API); 404 for what the caller may not know exists; 403 for a change to what they may only
see. Rows marked "cross" hand team B's ids to team A's endpoints and the other way round.

Every API operation in the OpenAPI document and every page the URL resolver knows must have a row:
test_every_api_endpoint_has_a_row and test_every_page_has_a_row fail for a new one without.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connections, transaction
from django.test import Client
from django.urls import URLResolver, get_resolver

from canvas.api import api
from canvas.models import Canvas, Comment, Membership, Node, Role, Team, Vote
from config.asgi import application
from tests.listening import CanvasSocket
from tests.team_world import PERSONAS, World, build_world, remove_world

LOGIN = "login"  # a redirect to the sign-in page


def expect(anonymous, outsider, viewer, editor, owner, share=None) -> dict:
    statuses = {"anonymous": anonymous, "outsider": outsider, "viewer": viewer, "editor": editor, "owner": owner}
    return statuses | {"share": anonymous if share is None else share}


# The common shapes of the API's answers.
READ = expect(401, 404, 200, 200, 200)
ANY_USER = {200: expect(401, 200, 200, 200, 200), 201: expect(401, 201, 201, 201, 201)}


def write(ok: int) -> dict:
    return expect(401, 404, 403, ok, ok)


def owners(ok: int) -> dict:
    return expect(401, 404, 403, 403, ok)


def b_only(ok: int) -> dict:
    """Team B's object: only its owner, charlie (the outsider to team A), reaches it."""
    return expect(401, ok, 404, 404, 404)


@dataclass
class Row:
    method: str
    path: str  # as the OpenAPI document (API) or the URL resolver (pages) writes it
    expect: dict
    body: dict | Callable | None = None
    ids: dict = field(default_factory=dict)  # path parameter → world id name, where the default is not it
    check: Callable | None = None  # (world, persona, response): what the answer must (not) hold
    note: str = ""
    query: str = ""  # a query string for the request, without its "?"

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}" + (f" [{self.note}]" if self.note else "")


DEFAULT_IDS = {
    "canvas_id": "canvas",
    "team_id": "team",
    "node_id": "note",
    "prompt_id": "prompt",
    "member_id": "member",
    "invite_id": "invite",
    "link_id": "link",
    "comment_id": "comment",
    "token_id": "api_token",
    "vote_id": "vote",
    "preset_id": "preset",
}
_PARAM = re.compile(r"\{(\w+)\}|<(?:\w+:)?(\w+)>")


def fill(row: Row, world: World, persona: str) -> str:
    def value(match) -> str:
        name = match.group(1) or match.group(2)
        return world.value(row.ids.get(name, DEFAULT_IDS.get(name, name)), persona)

    path = _PARAM.sub(value, row.path)
    path = path if path.startswith("/") else "/" + path
    return f"{path}?{row.query}" if row.query else path


def body_of(row: Row, world: World, persona: str):
    return row.body(world, persona) if callable(row.body) else row.body


# --- checks: what an answer must not give away, or what must (not) have changed --------------------------


def lists_canvas_a_only_to_members(world, persona, response):
    ids = [c["id"] for c in response.json()] if response.status_code == 200 else []
    assert (world.ids["canvas"] in ids) == (persona in ("viewer", "editor", "owner"))
    assert world.ids["canvas_b"] not in ids or persona == "outsider"


def lists_team_a_only_to_members(world, persona, response):
    ids = [t["id"] for t in response.json()] if response.status_code == 200 else []
    assert (world.ids["team"] in ids) == (persona in ("viewer", "editor", "owner"))


def says_nothing_of_canvas_a(world, persona, response):
    if response.status_code in (401, 404):
        assert b"Canvas A" not in response.content and b"Note on Canvas A" not in response.content


def created_in_own_personal_team(world, persona, response):
    if response.status_code == 201:
        assert response.json()["team"] == world.own_team[persona]


def node_stays_where_it_was(world, persona, response):
    note = Node.objects.get(pk=world.ids["note"])
    assert (str(note.canvas_id), note.kind, note.created_by.username) == (world.ids["canvas"], "note", "alice")


def member_stays_in_team_a(world, persona, response):
    erin = Membership.objects.get(key=world.ids["member"])
    assert str(erin.team_id) == world.ids["team"] and erin.user.username == "erin"


def canvas_a_stays_in_team_a(world, persona, response):
    assert str(Canvas.objects.get(pk=world.ids["canvas"]).team_id) == world.ids["team"]


def the_last_owner_stays(world, persona, response):
    assert Membership.objects.filter(team_id=world.ids["team"], role=Role.OWNER).exists()


def roles_come_only_from_the_invitation(world, persona, response):
    role = Membership.objects.filter(team_id=world.ids["team"], user__username=_username(world, persona))
    expected = {"outsider": "viewer", "viewer": "viewer", "editor": "editor", "owner": "owner"}.get(persona)
    assert role.values_list("role", flat=True).first() == expected


def _username(world, persona):
    user = world.users.get(persona)
    return user.username if user else None


def pair_vote(world, persona):
    return {"a": world.ids["response"], "b": world.ids["second_response"], "outcome": "a"}


def dave_keeps_his_vote_unless_he_takes_it_back(world, persona, response):
    assert Vote.objects.filter(pk=world.ids["vote"]).exists() == (response.status_code != 204)


def counts_team_a_runs_only(world, persona, response):
    if response.status_code == 200 and response["Content-Type"].startswith("application/json"):
        assert response.json()["total"]["runs"] == 3  # canvas A's three responses, none of canvas B's


def counts_own_runs_only(world, persona, response):
    if response.status_code == 200:
        assert response.json()["total"]["runs"] == {"owner": 3, "outsider": 3}.get(persona, 0)


def shows_no_provider_health(world, persona, response):
    assert b"Provider health" not in response.content  # staff only; no persona here is staff


def budgets_change_only_by_owners(world, persona, response):
    team = Team.objects.get(pk=world.ids["team"])
    erin = Membership.objects.get(key=world.ids["member"])
    budgets = {team.monthly_budget_usd, erin.monthly_budget_usd}  # each row sets one of the two
    assert budgets == ({Decimal("12.00"), None} if persona == "owner" else {None})


def judge_runs_only_for_writers(world, persona, response):
    runs = Node.objects.filter(judge_run__judgement__prompt_id=world.ids["prompt"]).count()
    assert runs == (2 if response.status_code == 202 else 0)  # one pair, both orders


def finds_only_visible_canvases(world, persona, response):
    """Search for "Note": canvas A's note to its members, canvas B's to charlie, the deleted canvas's to no one."""
    found = {hit["canvas"] for hit in response.json()} if response.status_code == 200 else set()
    members = {world.ids["canvas"]}
    expected = {"outsider": {world.ids["canvas_b"]}, "viewer": members, "editor": members, "owner": members}
    assert found == expected.get(persona, set())


def page_finds_only_visible_canvases(world, persona, response):
    if response.status_code == 200:
        page = response.content.decode()
        assert "Deleted A" not in page and "Deleted B" not in page
        assert ("Canvas B" in page) == (persona == "outsider")
        assert ("Canvas A" in page) == (persona in ("viewer", "editor", "owner"))


def lists_team_a_presets_only_to_members(world, persona, response):
    ids = [p["id"] for p in response.json()] if response.status_code == 200 else []
    assert (world.ids["preset"] in ids) == (persona in ("viewer", "editor", "owner"))
    assert (world.ids["preset_b"] in ids) == (persona == "outsider")


def prompt(world, persona, parents=()):
    return {"text": "Hello", "models": [world.ids["model"]], "parents": [world.ids[p] for p in parents]}


def canvas_file(team_key):
    def body(world, persona):
        note = {"id": "n1", "kind": "note", "text": "Imported"}
        return {"format": "prism.canvas", "version": 1, "canvas": {"title": "Imported"}, "nodes": [note],
                "team": world.value(team_key, persona)}  # fmt: skip

    return body


# --- the API ------------------------------------------------------------------------------------------

API_ROWS = [
    Row("GET", "/api/models", ANY_USER[200]),
    Row("GET", "/api/canvases", ANY_USER[200], check=lists_canvas_a_only_to_members),
    Row("POST", "/api/canvases", write(201), body=lambda w, p: {"title": "T", "team": w.ids["team"]}),
    Row("POST", "/api/canvases", ANY_USER[201], body={"title": "T"}, check=created_in_own_personal_team,
        note="no team: the caller's personal team"),
    Row("POST", "/api/canvases", b_only(201), body=lambda w, p: {"title": "T", "team": w.ids["team_b"]}, note="cross"),
    Row("POST", "/api/canvases/import", write(201), body=canvas_file("team")),
    Row("POST", "/api/canvases/import", b_only(201), body=canvas_file("team_b"), note="cross"),
    Row("GET", "/api/canvases/{canvas_id}", READ, check=says_nothing_of_canvas_a),
    Row("GET", "/api/canvases/{canvas_id}", b_only(200), ids={"canvas_id": "canvas_b"}, note="cross"),
    Row("PATCH", "/api/canvases/{canvas_id}", write(200), body={"title": "Renamed", "blind": True},
        check=says_nothing_of_canvas_a),
    Row("PATCH", "/api/canvases/{canvas_id}", b_only(200), body={"blind": True}, ids={"canvas_id": "canvas_b"},
        note="cross"),
    Row("GET", "/api/canvases/{canvas_id}", expect(401, 404, 404, 404, 404), ids={"canvas_id": "deleted_canvas"},
        note="deleted"),
    Row("DELETE", "/api/canvases/{canvas_id}", write(204), check=says_nothing_of_canvas_a),
    Row("DELETE", "/api/canvases/{canvas_id}", b_only(204), ids={"canvas_id": "canvas_b"}, note="cross"),
    Row("POST", "/api/canvases/{canvas_id}/restore", write(200), ids={"canvas_id": "deleted_canvas"}),
    Row("POST", "/api/canvases/{canvas_id}/restore", b_only(200), ids={"canvas_id": "deleted_canvas_b"}, note="cross"),
    Row("POST", "/api/canvases/{canvas_id}/restore", expect(401, 404, 404, 404, 404), note="not deleted"),
    Row("POST", "/api/canvases/{canvas_id}/duplicate", write(201)),
    Row("POST", "/api/canvases/{canvas_id}/duplicate", b_only(201), ids={"canvas_id": "canvas_b"}, note="cross"),
    Row("GET", "/api/search", ANY_USER[200], query="q=Note", check=finds_only_visible_canvases),
    Row("POST", "/api/canvases/{canvas_id}/prompts", write(202), body=prompt),
    Row("POST", "/api/canvases/{canvas_id}/prompts", expect(401, 404, 403, 400, 400),
        body=lambda w, p: prompt(w, p, ["note_b"]), note="cross: a parent from canvas B"),
    Row("POST", "/api/canvases/{canvas_id}/notes", write(201), body={"text": "A note"}),
    Row("POST", "/api/canvases/{canvas_id}/notes", expect(401, 404, 403, 400, 400),
        body=lambda w, p: {"text": "x", "parents": [w.ids["response_b"]]}, note="cross: a parent from canvas B"),
    Row("POST", "/api/canvases/{canvas_id}/context", write(200),
        body=lambda w, p: {"text": "Hi", "parents": [w.ids["response"]], "model": w.ids["model"]}),
    Row("POST", "/api/canvases/{canvas_id}/context", expect(401, 404, 403, 400, 400),
        body=lambda w, p: {"text": "Hi", "parents": [w.ids["response_b"]], "model": w.ids["model"]},
        note="cross: a parent from canvas B"),
    Row("GET", "/api/canvases/{canvas_id}/export", READ, check=says_nothing_of_canvas_a),
    Row("GET", "/api/canvases/{canvas_id}/export", b_only(200), ids={"canvas_id": "canvas_b"}, note="cross"),
    Row("GET", "/api/nodes/{node_id}", READ, ids={"node_id": "response"}, check=says_nothing_of_canvas_a),
    Row("GET", "/api/nodes/{node_id}", b_only(200), ids={"node_id": "response_b"}, note="cross"),
    Row("PATCH", "/api/nodes/{node_id}", write(200), body={"x": 12}),
    Row("PATCH", "/api/nodes/{node_id}", write(200), check=node_stays_where_it_was, note="ownership fields ignored",
        body=lambda w, p: {"x": 1, "canvas": w.ids["canvas_b"], "kind": "response", "created_by": 1}),
    Row("PATCH", "/api/nodes/{node_id}", b_only(200), body={"x": 12}, ids={"node_id": "note_b"}, note="cross"),
    Row("GET", "/api/nodes/{node_id}", expect(401, 404, 404, 404, 404), ids={"node_id": "deleted_note"},
        note="on a deleted canvas"),
    Row("DELETE", "/api/nodes/{node_id}", write(204)),
    Row("DELETE", "/api/nodes/{node_id}", expect(401, 404, 403, 409, 409), ids={"node_id": "prompt"},
        note="a prompt whose answer is queued: stop it first"),
    Row("DELETE", "/api/nodes/{node_id}", b_only(204), ids={"node_id": "note_b"}, note="cross"),
    Row("POST", "/api/nodes/{node_id}/cancel", write(202), ids={"node_id": "queued"}),
    Row("POST", "/api/nodes/{node_id}/cancel", b_only(202), ids={"node_id": "queued_b"}, note="cross"),
    Row("POST", "/api/nodes/{node_id}/regenerate", write(202), ids={"node_id": "response"}),
    Row("POST", "/api/nodes/{node_id}/regenerate", b_only(202), ids={"node_id": "response_b"}, note="cross"),
    Row("POST", "/api/nodes/{node_id}/rerun", write(202), body={"text": "Again"}, ids={"node_id": "prompt"}),
    Row("POST", "/api/nodes/{node_id}/rerun", b_only(202), body={}, ids={"node_id": "prompt_b"}, note="cross"),
    # Votes and blind prompts.
    Row("GET", "/api/nodes/{prompt_id}/votes", READ, check=says_nothing_of_canvas_a),
    Row("GET", "/api/nodes/{prompt_id}/votes", b_only(200), ids={"prompt_id": "prompt_b"}, note="cross"),
    Row("POST", "/api/nodes/{prompt_id}/votes", expect(401, 404, 403, 200, 201), body=pair_vote,
        note="dave's pair: his vote replaced"),
    Row("POST", "/api/nodes/{prompt_id}/votes", write(201), body=lambda w, p: {"best": w.ids["second_response"]},
        note="best of N"),
    Row("POST", "/api/nodes/{prompt_id}/votes", expect(401, 404, 403, 400, 400),
        body=lambda w, p: {"a": w.ids["response"], "b": w.ids["response_b"], "outcome": "b"},
        note="cross: an answer of canvas B"),
    Row("POST", "/api/nodes/{prompt_id}/votes", b_only(201), ids={"prompt_id": "prompt_b"}, note="cross",
        body=lambda w, p: {"best": w.ids["response_b"]}),
    Row("DELETE", "/api/votes/{vote_id}", expect(401, 404, 403, 204, 403),
        check=dave_keeps_his_vote_unless_he_takes_it_back, note="dave's: its author only"),
    Row("DELETE", "/api/votes/{vote_id}", b_only(204), ids={"vote_id": "vote_b"}, note="cross"),
    Row("POST", "/api/nodes/{prompt_id}/judge", write(202), body=lambda w, p: {"model": w.ids["model"]},
        check=judge_runs_only_for_writers),
    Row("POST", "/api/nodes/{prompt_id}/judge", b_only(202), body=lambda w, p: {"model": w.ids["model"]},
        ids={"prompt_id": "prompt_b"}, note="cross"),
    Row("GET", "/api/nodes/{prompt_id}/judgements", READ, check=says_nothing_of_canvas_a),
    Row("GET", "/api/nodes/{prompt_id}/judgements", b_only(200), ids={"prompt_id": "prompt_b"}, note="cross"),
    Row("POST", "/api/nodes/{prompt_id}/reveal", owners(200), note="alice's prompt: its author only"),
    Row("POST", "/api/nodes/{prompt_id}/reveal", b_only(200), ids={"prompt_id": "prompt_b"}, note="cross"),
    # Teams and members.
    Row("GET", "/api/teams", ANY_USER[200], check=lists_team_a_only_to_members),
    Row("POST", "/api/teams", ANY_USER[201], body={"name": "New team", "members": [1], "role": "viewer"}),
    Row("GET", "/api/teams/{team_id}", READ),
    Row("GET", "/api/teams/{team_id}", b_only(200), ids={"team_id": "team_b"}, note="cross"),
    Row("PATCH", "/api/teams/{team_id}/members/{member_id}", owners(200), check=member_stays_in_team_a,
        body=lambda w, p: {"role": "editor", "team": w.ids["team_b"], "user": 1}),
    Row("PATCH", "/api/teams/{team_id}/members/{member_id}", expect(401, 404, 404, 404, 404),
        body={"role": "viewer"}, ids={"member_id": "member_b"}, note="cross: a member of team B"),
    Row("PATCH", "/api/teams/{team_id}/members/{member_id}", expect(401, 404, 403, 403, 409),
        body={"role": "viewer"}, ids={"member_id": "own_member"}, check=the_last_owner_stays,
        note="demoting oneself; the last owner may not"),
    Row("DELETE", "/api/teams/{team_id}/members/{member_id}", owners(204)),
    Row("DELETE", "/api/teams/{team_id}/members/{member_id}", expect(401, 404, 204, 204, 409),
        ids={"member_id": "own_member"}, check=the_last_owner_stays, note="leaving; the last owner may not"),
    Row("DELETE", "/api/teams/{team_id}/members/{member_id}", expect(401, 404, 404, 404, 404),
        ids={"member_id": "member_b"}, note="cross: a member of team B"),
    Row("GET", "/api/teams/{team_id}/invites", owners(200)),
    Row("POST", "/api/teams/{team_id}/invites", owners(201), body={"role": "editor", "expires_in_days": 3}),
    Row("DELETE", "/api/teams/{team_id}/invites/{invite_id}", owners(204)),
    Row("DELETE", "/api/teams/{team_id}/invites/{invite_id}", expect(401, 404, 403, 403, 404),
        ids={"invite_id": "invite_b"}, note="cross: an invitation to team B"),
    Row("POST", "/api/invites/{token}/accept", ANY_USER[200], ids={"token": "invite_token"},
        check=roles_come_only_from_the_invitation),
    Row("POST", "/api/invites/{token}/accept", expect(401, 404, 404, 404, 404), ids={"token": "share_token"},
        note="a share token is no invitation"),
    # Canvases: moving and share links.
    Row("POST", "/api/canvases/{canvas_id}/move", owners(200), body=lambda w, p: {"team": w.value("own_team", p)},
        note="only an owner of the canvas's team"),
    Row("POST", "/api/canvases/{canvas_id}/move", expect(401, 404, 403, 403, 404), check=canvas_a_stays_in_team_a,
        body=lambda w, p: {"team": w.ids["team_b"]}, note="cross: into team B"),
    Row("GET", "/api/canvases/{canvas_id}/share-links", write(200)),
    Row("POST", "/api/canvases/{canvas_id}/share-links", write(201), body={"name": "For Zoe", "expires_in_days": 2}),
    Row("DELETE", "/api/canvases/{canvas_id}/share-links/{link_id}", write(204)),
    Row("DELETE", "/api/canvases/{canvas_id}/share-links/{link_id}", expect(401, 404, 403, 404, 404),
        ids={"link_id": "link_b"}, note="cross: a link of canvas B"),
    # Comments.
    Row("GET", "/api/nodes/{node_id}/comments", READ, check=says_nothing_of_canvas_a),
    Row("GET", "/api/nodes/{node_id}/comments", b_only(200), ids={"node_id": "note_b"}, note="cross"),
    Row("POST", "/api/nodes/{node_id}/comments", expect(401, 404, 201, 201, 201), body={"text": "Hm."}),
    Row("POST", "/api/nodes/{node_id}/comments", b_only(201), body={"text": "Hm."}, ids={"node_id": "note_b"},
        note="cross"),
    Row("DELETE", "/api/comments/{comment_id}", expect(401, 404, 204, 403, 204), note="bob's: its author or an owner"),
    Row("DELETE", "/api/comments/{comment_id}", b_only(204), ids={"comment_id": "comment_b"}, note="cross"),
    # Usage.
    Row("GET", "/api/teams/{team_id}/usage", READ, check=counts_team_a_runs_only),
    Row("GET", "/api/teams/{team_id}/usage", READ, query="format=csv", note="CSV"),
    Row("GET", "/api/teams/{team_id}/usage", owners(200), query="by=user", note="per person: owners only"),
    Row("GET", "/api/teams/{team_id}/usage", b_only(200), ids={"team_id": "team_b"}, note="cross"),
    Row("GET", "/api/usage", ANY_USER[200], check=counts_own_runs_only),
    # Evaluation: members read, viewers included; a share link opens none of it (the API answers 401).
    Row("GET", "/api/teams/{team_id}/leaderboard", READ),
    Row("GET", "/api/teams/{team_id}/leaderboard", b_only(200), ids={"team_id": "team_b"}, note="cross"),
    Row("GET", "/api/teams/{team_id}/votes", READ),
    Row("GET", "/api/teams/{team_id}/votes", b_only(200), ids={"team_id": "team_b"}, note="cross"),
    Row("GET", "/api/teams/{team_id}/costs", READ),
    Row("GET", "/api/teams/{team_id}/costs", b_only(200), ids={"team_id": "team_b"}, note="cross"),
    Row("GET", "/api/canvases/{canvas_id}/costs", READ, check=says_nothing_of_canvas_a),
    Row("GET", "/api/canvases/{canvas_id}/costs", b_only(200), ids={"canvas_id": "canvas_b"}, note="cross"),
    # Presets: a person's own, or a team's (members see it; editors and owners make and delete it).
    Row("GET", "/api/presets", ANY_USER[200], check=lists_team_a_presets_only_to_members),
    Row("POST", "/api/presets", ANY_USER[201], body=lambda w, p: {"name": "Mine", "models": [w.ids["model"]]},
        note="personal"),
    Row("POST", "/api/presets", write(201), body=lambda w, p: {"name": "Ours", "models": [w.ids["model"]],
        "team": w.ids["team"]}),  # fmt: skip
    Row("POST", "/api/presets", b_only(201), body=lambda w, p: {"name": "B", "models": [w.ids["model"]],
        "team": w.ids["team_b"]}, note="cross"),  # fmt: skip
    Row("DELETE", "/api/presets/{preset_id}", write(204)),
    Row("DELETE", "/api/presets/{preset_id}", b_only(204), ids={"preset_id": "preset_b"}, note="cross"),
]  # fmt: skip


def api_operations() -> set[tuple[str, str]]:
    paths = api.get_openapi_schema()["paths"]
    return {(method.upper(), path) for path, methods in paths.items() for method in methods}


def test_every_api_endpoint_has_a_row():
    covered = {(row.method, row.path) for row in API_ROWS}
    assert api_operations() - covered == set(), "API endpoints without a row in the access matrix"
    assert covered - api_operations() == set(), "rows for API endpoints that do not exist"


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once for the module, with a session per persona; each request's changes roll back."""
    with django_db_blocker.unblock():
        world = build_world()
        world.sign_in_everyone()
    yield world
    with django_db_blocker.unblock():
        remove_world(world)


class _Undo(Exception):
    pass


def answers(row: Row, world: World, send) -> dict:
    """Each persona's status for the row, each request on the untouched world (its changes are undone)."""
    statuses = {}
    for persona in PERSONAS:
        try:
            with transaction.atomic():
                response = send(world.client(persona), fill(row, world, persona), body_of(row, world, persona))
                statuses[persona] = response.status_code
                if response.status_code == 302 and response["Location"].startswith("/accounts/login/"):
                    statuses[persona] = LOGIN
                if response.status_code >= 400 and row.path.startswith("/api/"):
                    assert response.json()["error"]["code"], response.content
                if row.check:
                    row.check(world, persona, response)
                raise _Undo
        except _Undo:
            pass
    return statuses


@pytest.mark.django_db
@pytest.mark.parametrize("row", API_ROWS, ids=lambda row: row.id)
def test_api(row: Row, world: World):
    def send(client, path, body):
        kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
        return client.generic(row.method, path, **kwargs)

    assert answers(row, world, send) == row.expect


# --- the pages ----------------------------------------------------------------------------------------

PAGE = expect(LOGIN, 404, 200, 200, 200, share=LOGIN)
SIGNED_IN = expect(LOGIN, 200, 200, 200, 200, share=LOGIN)
PUBLIC = expect(200, 200, 200, 200, 200, share=200)


def page_write(ok) -> dict:
    return expect(LOGIN, 404, 403, ok, ok, share=LOGIN)


def page_owners(ok) -> dict:
    return expect(LOGIN, 404, 403, 403, ok, share=LOGIN)


def signed_out_only(ok) -> dict:
    return expect(ok, 302, 302, 302, 302, share=ok)


# The operators' pages: no persona is staff, so to every one of them they do not exist; staff get
# `ok` (test_staff_pages_open_to_staff).
STAFF_ONLY = expect(LOGIN, 404, 404, 404, 404, share=LOGIN)


PAGE_ROWS = [
    Row("GET", "", SIGNED_IN, check=says_nothing_of_canvas_a),
    Row("GET", "", SIGNED_IN, query="q=Note", check=page_finds_only_visible_canvases, note="search"),
    Row("GET", "healthz", PUBLIC),
    Row("POST", "canvases/new", page_write(302), body=lambda w, p: {"title": "T", "team": w.ids["team"]}),
    Row("GET", "canvases/<uuid:canvas_id>/", PAGE, check=says_nothing_of_canvas_a),
    Row("GET", "canvases/<uuid:canvas_id>/", expect(LOGIN, 200, 404, 404, 404, share=LOGIN),
        ids={"canvas_id": "canvas_b"}, note="cross"),
    Row("GET", "canvases/<uuid:canvas_id>/", expect(LOGIN, 404, 404, 404, 404, share=LOGIN),
        ids={"canvas_id": "deleted_canvas"}, note="deleted"),
    Row("POST", "canvases/<uuid:canvas_id>/rename", page_write(302), body={"title": "Renamed", "tags": "a, b"}),
    Row("POST", "canvases/<uuid:canvas_id>/rename", expect(LOGIN, 302, 404, 404, 404, share=LOGIN),
        body={"title": "Renamed"}, ids={"canvas_id": "canvas_b"}, note="cross"),
    Row("POST", "canvases/<uuid:canvas_id>/delete", page_write(302)),
    Row("POST", "canvases/<uuid:canvas_id>/delete", expect(LOGIN, 302, 404, 404, 404, share=LOGIN),
        ids={"canvas_id": "canvas_b"}, note="cross"),
    Row("POST", "canvases/<uuid:canvas_id>/restore", page_write(302), ids={"canvas_id": "deleted_canvas"}),
    Row("POST", "canvases/<uuid:canvas_id>/restore", expect(LOGIN, 404, 404, 404, 404, share=LOGIN),
        note="not deleted"),
    Row("POST", "canvases/<uuid:canvas_id>/duplicate", page_write(302)),
    Row("POST", "canvases/<uuid:canvas_id>/duplicate", expect(LOGIN, 302, 404, 404, 404, share=LOGIN),
        ids={"canvas_id": "canvas_b"}, note="cross"),
    Row("GET", "canvases/<uuid:canvas_id>/compare/<uuid:prompt_id>/", PAGE, check=says_nothing_of_canvas_a),
    Row("GET", "canvases/<uuid:canvas_id>/compare/<uuid:prompt_id>/", expect(LOGIN, 404, 404, 404, 404, share=LOGIN),
        ids={"prompt_id": "prompt_b"}, note="cross: canvas B's prompt on canvas A"),
    Row("POST", "canvases/<uuid:canvas_id>/move", page_owners(302), body=lambda w, p: {"team": w.value("own_team", p)},
        note="only an owner of the canvas's team"),
    Row("POST", "canvases/<uuid:canvas_id>/move", expect(LOGIN, 404, 403, 403, 404, share=LOGIN),
        body=lambda w, p: {"team": w.ids["team_b"]}, check=canvas_a_stays_in_team_a, note="cross: into team B"),
    Row("GET", "canvases/<uuid:canvas_id>/sharing/", page_write(200)),
    Row("POST", "canvases/<uuid:canvas_id>/sharing/", page_write(201), body={"name": "Zoe", "expires_in_days": "3"}),
    Row("POST", "canvases/<uuid:canvas_id>/sharing/<uuid:link_id>/revoke", page_write(302)),
    Row("POST", "canvases/<uuid:canvas_id>/sharing/<uuid:link_id>/revoke", expect(LOGIN, 404, 403, 404, 404,
        share=LOGIN), ids={"link_id": "link_b"}, note="cross: a link of canvas B"),
    Row("GET", "s/<str:token>/", PUBLIC, ids={"token": "share_token"}),
    Row("GET", "s/<str:token>/", expect(404, 404, 404, 404, 404, share=404), ids={"token": "revoked_share_token"},
        note="revoked"),
    Row("GET", "s/<str:token>/", expect(404, 404, 404, 404, 404, share=404), ids={"token": "deleted_share_token"},
        note="a deleted canvas's link"),
    Row("GET", "s/<str:token>/", expect(404, 404, 404, 404, 404, share=404), ids={"token": "invite_token"},
        note="an invitation is no share link"),
    # Accounts.
    Row("GET", "accounts/", SIGNED_IN),
    Row("GET", "accounts/login/", signed_out_only(200)),
    Row("POST", "accounts/logout/", expect(LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, share=LOGIN), note="back to sign-in"),
    Row("GET", "accounts/signup/", signed_out_only(200)),
    Row("GET", "accounts/signup/sent/", signed_out_only(200)),
    Row("GET", "accounts/signup/finish/<str:token>/", signed_out_only(200), ids={"token": "signup_token"}),
    Row("GET", "accounts/signup/finish/<str:token>/", signed_out_only(400), ids={"token": "invite_token"},
        note="an invitation is no sign-up link"),
    Row("GET", "accounts/password/change/", SIGNED_IN),
    Row("GET", "accounts/password/change/done/", SIGNED_IN),
    Row("GET", "accounts/password/reset/", PUBLIC),
    Row("GET", "accounts/password/reset/sent/", PUBLIC),
    Row("GET", "accounts/reset/<uidb64>/<token>/", PUBLIC, ids={"uidb64": "team", "token": "invite_token"}),
    Row("GET", "accounts/reset/done/", PUBLIC),
    Row("GET", "accounts/tokens/", SIGNED_IN),
    Row("POST", "accounts/tokens/<uuid:token_id>/revoke", expect(LOGIN, 404, 404, 404, 302, share=LOGIN),
        note="alice's token"),
    # Teams.
    Row("GET", "teams/", SIGNED_IN, check=says_nothing_of_canvas_a),
    Row("POST", "teams/", expect(LOGIN, 302, 302, 302, 302, share=LOGIN), body={"name": "Another team"}),
    Row("GET", "teams/<uuid:team_id>/", PAGE, check=says_nothing_of_canvas_a),
    Row("GET", "teams/<uuid:team_id>/", expect(LOGIN, 200, 404, 404, 404, share=LOGIN), ids={"team_id": "team_b"},
        note="cross"),
    Row("POST", "teams/<uuid:team_id>/invites", page_owners(201), body={"role": "editor", "expires_in_days": "2"}),
    Row("POST", "teams/<uuid:team_id>/invites/<uuid:invite_id>/revoke", page_owners(302)),
    Row("POST", "teams/<uuid:team_id>/invites/<uuid:invite_id>/revoke", expect(LOGIN, 404, 403, 403, 404,
        share=LOGIN), ids={"invite_id": "invite_b"}, note="cross: an invitation to team B"),
    Row("POST", "teams/<uuid:team_id>/members/<uuid:member_id>/role", page_owners(302), body={"role": "owner"}),
    Row("POST", "teams/<uuid:team_id>/members/<uuid:member_id>/role", expect(LOGIN, 404, 404, 404, 404,
        share=LOGIN), body={"role": "owner"}, ids={"member_id": "member_b"}, note="cross: a member of team B"),
    Row("POST", "teams/<uuid:team_id>/members/<uuid:member_id>/remove", page_owners(302), check=None),
    Row("POST", "teams/<uuid:team_id>/members/<uuid:member_id>/remove", expect(LOGIN, 404, 302, 302, 302,
        share=LOGIN), ids={"member_id": "own_member"}, check=the_last_owner_stays, note="leaving"),
    Row("POST", "teams/<uuid:team_id>/leave", expect(LOGIN, 404, 302, 302, 302, share=LOGIN),
        check=the_last_owner_stays),
    # Usage and budgets.
    Row("GET", "teams/<uuid:team_id>/usage/", PAGE, check=shows_no_provider_health),
    Row("GET", "teams/<uuid:team_id>/usage/", page_owners(200), query="by=user", note="per person: owners only"),
    Row("GET", "teams/<uuid:team_id>/usage/", expect(LOGIN, 200, 404, 404, 404, share=LOGIN),
        ids={"team_id": "team_b"}, note="cross"),
    Row("POST", "teams/<uuid:team_id>/budget", page_owners(302), body={"monthly_budget_usd": "12"},
        check=budgets_change_only_by_owners),
    Row("POST", "teams/<uuid:team_id>/members/<uuid:member_id>/budget", page_owners(302),
        body={"monthly_budget_usd": "12"}, check=budgets_change_only_by_owners),
    Row("POST", "teams/<uuid:team_id>/members/<uuid:member_id>/budget", expect(LOGIN, 404, 404, 404, 404,
        share=LOGIN), body={"monthly_budget_usd": "12"}, ids={"member_id": "member_b"},
        note="cross: a member of team B"),
    Row("GET", "accounts/usage/", SIGNED_IN),
    Row("GET", "teams/<uuid:team_id>/leaderboard/", PAGE, check=says_nothing_of_canvas_a),
    Row("GET", "teams/<uuid:team_id>/leaderboard/", expect(LOGIN, 200, 404, 404, 404, share=LOGIN),
        ids={"team_id": "team_b"}, note="cross"),
    Row("GET", "teams/join/<str:token>/", SIGNED_IN, ids={"token": "invite_token"}),
    Row("GET", "teams/join/<str:token>/", expect(LOGIN, 404, 404, 404, 404, share=LOGIN),
        ids={"token": "share_token"}, note="a share token is no invitation"),
    Row("POST", "teams/join/<str:token>/", expect(LOGIN, 302, 302, 302, 302, share=LOGIN),
        ids={"token": "invite_token"}, check=roles_come_only_from_the_invitation),
    # Operators.
    Row("GET", "servers/", STAFF_ONLY),
]  # fmt: skip
STAFF_ROWS = {"servers/": 200}


def page_routes() -> set[str]:
    """Every route the site serves, except the admin (Django's own, staff only) and the API (rows above)."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern)

    return {route for route in walk(get_resolver().url_patterns) if not route.startswith(("admin/", "api/"))}


def test_every_page_has_a_row():
    covered = {row.path for row in PAGE_ROWS}
    assert page_routes() - covered == set(), "pages without a row in the access matrix"
    assert covered - page_routes() == set(), "rows for pages that do not exist"


@pytest.mark.django_db
@pytest.mark.parametrize("row", PAGE_ROWS, ids=lambda row: row.id)
def test_page(row: Row, world: World):
    def send(client, path, body):
        return client.get(path) if row.method == "GET" else client.post(path, body or {})

    assert answers(row, world, send) == row.expect


@pytest.mark.django_db
@pytest.mark.parametrize("path", sorted(STAFF_ROWS))
def test_staff_pages_open_to_staff(path, world, django_user_model):
    assert [row.expect for row in PAGE_ROWS if row.path == path] == [STAFF_ONLY]
    client = Client()
    client.force_login(django_user_model.objects.create_user("olga", is_staff=True))
    for headers in ({}, {"HX-Request": "true"}):  # the page, and the panels alone that it polls
        assert client.get(f"/{path}", headers=headers).status_code == STAFF_ROWS[path]


# --- the WebSocket -------------------------------------------------------------------------------------

ORIGIN = (b"origin", b"http://localhost")
HOST = (b"host", b"localhost")
WS_CONNECT = {"anonymous": False, "outsider": False, "viewer": True, "editor": True, "owner": True, "share": True}
WS_COMMENT = {"viewer": "comment.created", "editor": "comment.created", "owner": "comment.created", "share": "error"}


@pytest_asyncio.fixture
async def ws_world(world):
    """The module's world, committed, so the consumer's own database connections see it. What a socket
    writes is committed too; removing the world at the end of the module removes it."""
    yield world
    await get_channel_layer().flush()
    await sync_to_async(connections.close_all)()


def socket_for(world: World, persona: str, canvas: str = "canvas", query: str = "") -> CanvasSocket:
    headers = [HOST, ORIGIN]
    if persona in world.sessions:
        headers.append((b"cookie", f"sessionid={world.sessions[persona]}".encode()))
    return CanvasSocket(application, f"/ws/canvases/{world.ids[canvas]}/{query}", headers=headers)


async def next_of(communicator: CanvasSocket, *types: str) -> dict:
    while True:
        event = await communicator.receive_json_from(timeout=5)
        if event["type"] in types:
            return event


@pytest.mark.asyncio
@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
async def test_websocket_connect(persona, ws_world):
    communicator = socket_for(ws_world, persona)

    connected, _ = await communicator.connect(timeout=5)

    assert connected == WS_CONNECT[persona]
    await communicator.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db
@pytest.mark.parametrize("persona", sorted(WS_COMMENT))
async def test_websocket_comment_create(persona, ws_world):
    communicator = socket_for(ws_world, persona)
    assert (await communicator.connect(timeout=5))[0]
    text = f"Seen it ({persona})"

    await communicator.send_json_to({"type": "comment.create", "node": ws_world.ids["note"], "text": text, "ref": 7})

    reply = await next_of(communicator, "comment.created", "error")
    assert reply["type"] == WS_COMMENT[persona]
    stored = await sync_to_async(Comment.objects.filter(text=text).count)()
    assert stored == (1 if reply["type"] == "comment.created" else 0)
    if reply["type"] == "error":
        assert reply["error"]["code"] == "forbidden" and reply["ref"] == 7
    await communicator.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db
async def test_websocket_comment_on_a_node_of_another_team_is_not_found(ws_world):
    communicator = socket_for(ws_world, "owner")
    assert (await communicator.connect(timeout=5))[0]

    await communicator.send_json_to({"type": "comment.create", "node": ws_world.ids["note_b"], "text": "Sneaky"})

    reply = await next_of(communicator, "comment.created", "error")
    assert reply["error"]["code"] == "not_found"
    assert not await sync_to_async(Comment.objects.filter(text="Sneaky").exists)()
    await communicator.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("persona", "canvas", "query", "connects"),
    [
        ("anonymous", "canvas", "?share={share_token}", True),
        ("anonymous", "canvas_b", "?share={share_token}", False),
        ("anonymous", "canvas", "?share={share_b_token}", False),
        ("anonymous", "canvas", "?share={revoked_share_token}", False),
        ("anonymous", "canvas", "?share={invite_token}", False),
        ("share", "canvas_b", "", False),
        ("outsider", "canvas", "?share={share_token}", True),
        ("owner", "canvas_b", "", False),
    ],
    ids=[
        "token",
        "token-other-canvas",
        "other-canvas-token",
        "revoked",
        "invite-token",
        "session-other-canvas",
        "outsider-with-token",
        "owner-on-canvas-b",
    ],  # fmt: skip
)
async def test_websocket_share_tokens_open_their_canvas_only(persona, canvas, query, connects, ws_world):
    communicator = socket_for(ws_world, persona, canvas, query.format(**ws_world.ids))

    connected, _ = await communicator.connect(timeout=5)

    assert connected == connects
    await communicator.disconnect()
