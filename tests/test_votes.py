"""Votes on a prompt's answers through the API: pairwise and best of N, one vote per person per pair,
what may be compared (4xx for anything else), who may vote, read and take back a vote, and a canvas's
settings (PATCH), whose `blind` is the default for new prompts."""

from __future__ import annotations

import json

import pytest

from canvas.models import Node, Vote
from tests.arena import build_arena

pytestmark = pytest.mark.django_db

VOTE_FIELDS = {"id", "prompt", "a", "b", "outcome", "judge", "created_at"}


@pytest.fixture
def arena():
    return build_arena(blind=False)


def post(client, path, body=None):
    return client.post(path, json.dumps(body if body is not None else {}), content_type="application/json")


def vote(client, arena, **body):
    return post(client, f"/api/nodes/{arena.prompt.id}/votes", body)


def ids(arena):
    return [str(a.id) for a in arena.answers]


def error_code(response, status: int) -> str:
    assert response.status_code == status, response.content
    return response.json()["error"]["code"]


def test_a_pairwise_vote_is_recorded_and_shown(arena):
    first, second, _ = ids(arena)

    response = vote(arena.client("dave"), arena, a=first, b=second, outcome="a")

    assert response.status_code == 201, response.content
    recorded = response.json()["vote"]
    assert set(recorded) == VOTE_FIELDS
    assert recorded["judge"] == {"user": "dave"} and recorded["prompt"] == str(arena.prompt.id)
    winner = recorded["a"] if recorded["outcome"] == "a" else recorded["b"]
    assert {recorded["a"], recorded["b"]} == {first, second} and winner == first
    stored = Vote.objects.get()
    assert (stored.model_a_id, stored.model_b_id) == tuple(
        Node.objects.get(pk=pk).model_id for pk in (recorded["a"], recorded["b"])
    )
    assert stored.canvas_id == arena.canvas.id
    listed = arena.client("bob").get(f"/api/nodes/{arena.prompt.id}/votes")
    assert listed.status_code == 200 and listed.json() == [recorded]


def test_voting_again_on_a_pair_in_either_order_replaces_the_vote(arena):
    first, second, _ = ids(arena)
    dave = arena.client("dave")
    assert vote(dave, arena, a=first, b=second, outcome="a").status_code == 201

    again = vote(dave, arena, a=second, b=first, outcome="a")  # now the second one is better

    assert again.status_code == 200, again.content
    stored = Vote.objects.get()
    winner = stored.a_id if stored.outcome == "a" else stored.b_id
    assert str(winner) == second
    assert again.json()["vote"]["id"] == str(stored.id)
    # Another person's vote on the same pair is their own.
    assert vote(arena.client("alice"), arena, a=first, b=second, outcome="tie").status_code == 201
    assert Vote.objects.count() == 2


@pytest.mark.parametrize("outcome", ["tie", "both_bad"])
def test_a_symmetric_outcome_stays_the_same_whichever_order(arena, outcome):
    first, second, _ = ids(arena)

    vote(arena.client("dave"), arena, a=second, b=first, outcome=outcome)

    assert Vote.objects.get().outcome == outcome


def test_best_of_n_wins_over_each_other_finished_answer(arena):
    first, second, third = ids(arena)

    response = vote(arena.client("dave"), arena, best=second)

    assert response.status_code == 201, response.content
    votes = response.json()["votes"]
    assert len(votes) == 2  # not over the queued answer, nor over another prompt's
    for v in votes:
        assert set(v) == VOTE_FIELDS
        winner = v["a"] if v["outcome"] == "a" else v["b"]
        loser = v["b"] if v["outcome"] == "a" else v["a"]
        assert winner == second
        assert loser in (first, third)
    assert {frozenset((v["a"], v["b"])) for v in votes} == {frozenset((second, first)), frozenset((second, third))}
    # Best again, another one: each pair's vote is replaced, none added.
    assert vote(arena.client("dave"), arena, best=first).status_code == 201
    assert Vote.objects.count() == 3  # (1,2) replaced, (1,3) new, (2,3) kept


def test_only_finished_answers_of_that_prompt_can_be_compared(arena):
    first, second, _ = ids(arena)
    dave = arena.client("dave")
    cases = [
        {"a": first, "b": first, "outcome": "a"},  # the same answer twice
        {"a": first, "b": str(arena.queued.id), "outcome": "a"},  # not finished
        {"a": first, "b": str(arena.stranger.id), "outcome": "tie"},  # another prompt's
        {"a": first, "b": str(arena.prompt.id), "outcome": "tie"},  # not an answer
        {"a": first, "b": "not-an-id", "outcome": "b"},
        {"best": str(arena.queued.id)},
        {"best": str(arena.stranger.id)},
        {"a": first, "b": second},  # no outcome
        {"a": first, "b": second, "outcome": "c"},
        {"a": first, "b": second, "outcome": "a", "best": first},  # both forms
        {},
    ]
    for body in cases:
        assert error_code(vote(dave, arena, **body), 400), body
    assert error_code(post(dave, f"/api/nodes/{arena.prompt.id}/votes", [1, 2]), 400)
    # On an answer instead of its prompt.
    assert error_code(post(dave, f"/api/nodes/{first}/votes", {"a": first, "b": second, "outcome": "a"}), 400)
    assert not Vote.objects.exists()


def test_best_needs_another_finished_answer(arena):
    for other in arena.answers[1:]:
        other.status = "error"
        other.save()

    assert error_code(vote(arena.client("dave"), arena, best=str(arena.answers[0].id)), 400) == "invalid"


def test_viewers_read_votes_but_do_not_vote_and_outsiders_learn_nothing(arena):
    first, second, _ = ids(arena)
    body = {"a": first, "b": second, "outcome": "a"}

    assert error_code(vote(arena.client("bob"), arena, **body), 403) == "forbidden"
    assert error_code(vote(arena.client("charlie"), arena, **body), 404) == "not_found"
    assert arena.client("charlie").get(f"/api/nodes/{arena.prompt.id}/votes").status_code == 404
    assert arena.client("bob").get(f"/api/nodes/{arena.prompt.id}/votes").status_code == 200
    assert error_code(vote(arena.client("charlie"), arena, best=first), 404) == "not_found"
    assert not Vote.objects.exists()


def test_a_vote_is_taken_back_by_its_author_only(arena):
    first, second, _ = ids(arena)
    recorded = vote(arena.client("dave"), arena, a=first, b=second, outcome="b").json()["vote"]
    path = f"/api/votes/{recorded['id']}"

    assert error_code(arena.client("alice").delete(path), 403) == "forbidden"  # even the team's owner
    assert error_code(arena.client("bob").delete(path), 403) == "forbidden"
    assert error_code(arena.client("charlie").delete(path), 404) == "not_found"
    assert error_code(arena.client("dave").delete("/api/votes/not-a-vote"), 404) == "not_found"
    assert arena.client("dave").delete(path).status_code == 204
    assert not Vote.objects.exists()
    assert arena.client("dave").delete(path).status_code == 404


# --- the canvas's settings -------------------------------------------------------------------------------


def patch(client, arena, body):
    return client.patch(f"/api/canvases/{arena.canvas.id}", json.dumps(body), content_type="application/json")


def test_editors_change_a_canvas_title_system_prompt_and_blind_default(arena):
    response = patch(arena.client("dave"), arena, {"title": " Renamed ", "system_prompt": "Be brief.", "blind": True})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["title"], body["system_prompt"], body["blind"]) == ("Renamed", "Be brief.", True)
    arena.canvas.refresh_from_db()
    assert (arena.canvas.title, arena.canvas.system_prompt, arena.canvas.blind) == ("Renamed", "Be brief.", True)
    # Only what is sent changes; fields that are not settings are ignored.
    assert patch(arena.client("alice"), arena, {"blind": False, "team": "x", "id": "y"}).json()["title"] == "Renamed"
    arena.canvas.refresh_from_db()
    assert arena.canvas.blind is False and str(arena.canvas.team_id) != "x"


def test_a_canvas_patch_is_checked(arena):
    assert error_code(patch(arena.client("bob"), arena, {"title": "Mine"}), 403) == "forbidden"
    assert error_code(patch(arena.client("charlie"), arena, {"title": "Mine"}), 404) == "not_found"
    for body in ({"title": ""}, {"title": "   "}, {"title": "x" * 201}, {"blind": "maybe"}, [1]):
        assert error_code(patch(arena.client("dave"), arena, body), 400) == "invalid", body
    arena.canvas.refresh_from_db()
    assert arena.canvas.title == "Blind tasting"


def test_new_prompts_follow_the_canvas_blind_default_unless_they_say(arena):
    patch(arena.client("alice"), arena, {"blind": True})
    model = str(arena.models["orion"].id)
    path = f"/api/canvases/{arena.canvas.id}/prompts"

    by_default = post(arena.client("dave"), path, {"text": "Default", "models": [model, model]}).json()
    opted_out = post(arena.client("dave"), path, {"text": "Seen", "models": [model], "blind": False}).json()

    assert by_default["prompt"]["blind"] is True
    assert sorted(r["label"] for r in by_default["responses"]) == ["A", "B"]
    assert opted_out["prompt"]["blind"] is False and opted_out["responses"][0]["label"] is None
    assert opted_out["responses"][0]["model"] == model


def test_every_vote_written_through_the_api_shows_on_the_next_leaderboard(arena, django_capture_on_commit_callbacks):
    """The vote API writes with save() and delete() (the cache's signals see them): a first vote, a
    vote that replaces it, best of N and a vote taken back each reach the team's cached leaderboard."""
    orion, vega, _ = ids(arena)
    alice, dave = arena.client("alice"), arena.client("dave")

    def records() -> dict[str, tuple[int, int, int]]:
        response = alice.get(f"/api/teams/{arena.canvas.team_id}/leaderboard")
        assert response.status_code == 200, response.content
        return {row["display_name"]: (row["votes"], row["wins"], row["losses"]) for row in response.json()["models"]}

    assert records() == {}
    with django_capture_on_commit_callbacks(execute=True):
        assert vote(dave, arena, a=orion, b=vega, outcome="a").status_code == 201
    assert records() == {"Orion Pro Deluxe": (1, 1, 0), "Vega Mini Turbo": (1, 0, 1)}, "a first vote"

    with django_capture_on_commit_callbacks(execute=True):
        assert vote(dave, arena, a=orion, b=vega, outcome="b").status_code == 200
    assert records() == {"Orion Pro Deluxe": (1, 0, 1), "Vega Mini Turbo": (1, 1, 0)}, "a vote replaced"

    with django_capture_on_commit_callbacks(execute=True):
        assert vote(alice, arena, best=vega).status_code == 201
    assert records() == {"Orion Pro Deluxe": (3, 0, 3), "Vega Mini Turbo": (3, 3, 0)}, "best of N"

    with django_capture_on_commit_callbacks(execute=True):
        assert dave.delete(f"/api/votes/{Vote.objects.get(user__username='dave').id}").status_code == 204
    assert records() == {"Orion Pro Deluxe": (2, 0, 2), "Vega Mini Turbo": (2, 2, 0)}, "a vote taken back"
