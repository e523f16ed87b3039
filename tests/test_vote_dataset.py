"""GET /api/teams/{id}/votes: the team's votes as a dataset in Chatbot Arena's field names, as JSON lines
and as CSV, parsed back here; conversations are the context each model was sent plus its answer;
blind prompts' votes only for who may know their models; streamed in batches."""

from __future__ import annotations

import csv
import io
import json

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient
from django.utils import timezone

from canvas.models import Membership, Role
from evaluation import dataset
from tests.vote_factory import answer, duel, model, prompt, vote

pytestmark = pytest.mark.django_db

FIELDS = ["question_id", "model_a", "model_b", "winner", "judge", "conversation_a", "conversation_b", "turn",
          "anony", "tstamp"]  # fmt: skip


@pytest.fixture
def models(db):
    return {"gpt": model("gpt-5", "openai"), "ds": model("deepseek-chat", "deepseek")}


def jsonl(api, team, **params) -> list[dict]:
    response = api.get(f"/api/teams/{team.id}/votes", params)
    assert response.status_code == 200, response.content
    assert response.streaming and response["Content-Type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


def csv_rows(api, team) -> list[dict]:
    response = api.get(f"/api/teams/{team.id}/votes", {"format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="' in response["Content-Disposition"]
    reader = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert reader.fieldnames == FIELDS
    return list(reader)


def test_rows_carry_the_arena_fields_and_the_conversations(api, alice, alice_canvas, alice_team, models):
    alice_canvas.system_prompt = "Be brief."
    alice_canvas.save()
    judge = model("judge-9", "openai")
    first = prompt(alice_canvas, "Name a prime.")
    earlier = answer(first, models["gpt"], text="Seven.")
    follow_up = prompt(alice_canvas, "And another?", parents=[earlier])
    a, b = answer(follow_up, models["gpt"], text="Eleven."), answer(follow_up, models["ds"], text="Thirteen.")
    people = vote(a, b, "a", user=alice)
    vote(a, b, "both_bad", judge=judge)

    rows = jsonl(api, alice_team)

    assert [list(row) for row in rows] == [FIELDS, FIELDS]
    by_judge = {row["judge"]: row for row in rows}
    assert set(by_judge) == {"alice", "model:judge-9"}
    mine = by_judge["alice"]
    context = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a prime."},
               {"role": "assistant", "content": "Seven."}, {"role": "user", "content": "And another?"}]  # fmt: skip
    flipped = people.a_id != a.id  # stored in canonical order
    gpt_side, ds_side = ("conversation_b", "conversation_a") if flipped else ("conversation_a", "conversation_b")
    assert mine[gpt_side] == [*context, {"role": "assistant", "content": "Eleven."}]
    assert mine[ds_side] == [*context, {"role": "assistant", "content": "Thirteen."}]
    assert (mine["model_b"], mine["model_a"]) == (("gpt-5", "deepseek-chat") if flipped else ("deepseek-chat", "gpt-5"))
    assert mine["winner"] == ("model_b" if flipped else "model_a")
    assert by_judge["model:judge-9"]["winner"] == "tie (bothbad)"
    assert mine["question_id"] == follow_up.id.hex and mine["turn"] == 2 and mine["anony"] is False
    assert mine["tstamp"] == pytest.approx(people.created_at.timestamp(), abs=1e-3)


def test_every_outcome_is_named_as_the_arena_names_it(api, alice, alice_canvas, alice_team, models):
    for outcome in ("a", "b", "tie", "both_bad"):
        duel(alice_canvas, models["gpt"], models["ds"], outcome, user=alice)

    winners = {}
    for row in jsonl(api, alice_team):
        side = {"model_a": row["model_a"], "model_b": row["model_b"]}.get(row["winner"], row["winner"])
        winners[side] = winners.get(side, 0) + 1

    # One vote each way between the two models, one tie, one "both bad".
    assert winners == {"gpt-5": 1, "deepseek-chat": 1, "tie": 1, "tie (bothbad)": 1}


def test_csv_holds_the_same_rows(api, alice, alice_canvas, alice_team, models):
    for outcome in ("a", "tie"):
        duel(alice_canvas, models["gpt"], models["ds"], outcome, user=alice)

    from_jsonl, from_csv = jsonl(api, alice_team), csv_rows(api, alice_team)

    assert len(from_csv) == 2
    for line, row in zip(from_jsonl, from_csv, strict=True):
        assert json.loads(row["conversation_a"]) == line["conversation_a"]
        assert json.loads(row["conversation_b"]) == line["conversation_b"]
        assert float(row["tstamp"]) == line["tstamp"] and int(row["turn"]) == line["turn"]
        assert {k: row[k] for k in ("question_id", "model_a", "model_b", "winner", "judge")} == {
            k: line[k] for k in ("question_id", "model_a", "model_b", "winner", "judge")
        }


def test_batches_give_every_vote_once_in_order(api, alice, alice_canvas, alice_team, models, monkeypatch):
    monkeypatch.setattr(dataset, "BATCH", 2)
    same_time = timezone.now()
    made = [duel(alice_canvas, models["gpt"], models["ds"], "a", user=alice, when=same_time)[3] for _ in range(5)]
    made.append(duel(alice_canvas, models["gpt"], models["ds"], "b", user=alice)[3])

    rows = jsonl(api, alice_team)

    expected = sorted(made, key=lambda v: (v.created_at, v.pk))
    assert [row["question_id"] for row in rows] == [v.prompt_id.hex for v in expected]


def test_filters_narrow_the_dataset(api, alice, alice_canvas, alice_team, models):
    judge = model("judge-9", "openai")
    duel(alice_canvas, models["gpt"], models["ds"], "a", user=alice)
    duel(alice_canvas, models["gpt"], models["ds"], "a", judge=judge)

    assert len(jsonl(api, alice_team)) == 2
    assert [row["judge"] for row in jsonl(api, alice_team, judge="human")] == ["alice"]
    assert [row["judge"] for row in jsonl(api, alice_team, judge="model")] == ["model:judge-9"]
    assert api.get(f"/api/teams/{alice_team.id}/votes", {"format": "xml"}).status_code == 400


def test_blind_votes_only_for_who_may_know_the_models(api, alice, alice_canvas, alice_team, models, django_user_model):
    bob = django_user_model.objects.create_user("bob")
    Membership.objects.create(team=alice_team, user=bob, role=Role.EDITOR)
    duel(alice_canvas, models["gpt"], models["ds"], "a", user=alice)
    blind = prompt(alice_canvas, "Blind question", blind=True)
    a, b = answer(blind, models["gpt"], label="A"), answer(blind, models["ds"], label="B")
    vote(a, b, "a", user=bob)

    assert [row["judge"] for row in jsonl(api, alice_team)] == ["alice"], "bob's vote would name the models"

    vote(a, b, "b", user=alice)
    rows = jsonl(api, alice_team)
    assert sorted(row["judge"] for row in rows) == ["alice", "alice", "bob"]
    assert {row["anony"] for row in rows if row["question_id"] == blind.id.hex} == {True}

    blind.votes.filter(user=alice).delete()
    blind.revealed_at = timezone.now()
    blind.save()
    assert sorted(row["judge"] for row in jsonl(api, alice_team)) == ["alice", "bob"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_asgi_server_streams_it_too(alice, alice_canvas, alice_team, alice_token, models):
    await sync_to_async(duel)(alice_canvas, models["gpt"], models["ds"], "tie", user=alice)
    # Headers given per request arrive under their ASGI names, as a server delivers them.
    headers = {"authorization": f"Bearer {alice_token}"}

    try:
        response = await AsyncClient().get(f"/api/teams/{alice_team.id}/votes", headers=headers)
        assert response.status_code == 200 and response.is_async, "an asynchronous iterator, streamed as it comes"
        body = b"".join([chunk async for chunk in response.streaming_content])
    finally:
        await sync_to_async(connections.close_all)()

    assert [(row["winner"], row["judge"]) for row in map(json.loads, body.splitlines())] == [("tie", "alice")]
