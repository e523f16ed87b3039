"""GET /api/teams/{id}/leaderboard: ratings, tallies and medians from the team's votes, its filters,
the judge–people agreement, the cost estimates of the slice, and its cache (bounded queries, and a
new answer after every change of the votes)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from canvas.models import Canvas, Membership, Node, NodeKind, NodeStatus, Role, Team, Vote
from evaluation.board import answer_figures, voted_answers
from evaluation.ratings import PairCounts, bradley_terry
from evaluation.scope import Scope
from tests.vote_factory import FLIPPED, answer, duel, model, prompt, vote

pytestmark = pytest.mark.django_db

FIELDS = {"model", "display_name", "provider_kind", "self_hosted", "rating", "ci", "votes", "wins", "losses", "ties",
          "win_rate", "cost_per_answer_p50", "ttft_ms_p50", "tokens_per_s_p50"}  # fmt: skip
# (first, second, outcome, how many): the people's votes of the main scene.
SCENE = [
    ("gpt", "claude", "a", 3), ("gpt", "claude", "b", 1), ("gpt", "claude", "tie", 1),
    ("gpt", "ds", "b", 2), ("gpt", "ds", "a", 1), ("gpt", "ds", "both_bad", 1),
    ("claude", "ds", "a", 2), ("claude", "ds", "b", 2),
]  # fmt: skip


@pytest.fixture
def models(db):
    return {
        "gpt": model("gpt-5", "openai", price=("1.25", "0.125", "10")),
        "claude": model("claude-sonnet", "anthropic", price=("3", "0.3", "15", "3.75")),
        "ds": model("deepseek-r1", "vllm", price=("0.05", "0.005", "0.5"), display_name="DeepSeek (ours)"),
        "idle": model("idle-model", "openai"),
    }


def board(api, team, **params) -> dict:
    response = api.get(f"/api/teams/{team.id}/leaderboard", params)
    assert response.status_code == 200, response.content
    return response.json()


def by_name(result: dict) -> dict:
    return {row["display_name"]: row for row in result["models"]}


def play(canvas, models, scene, user, **kwargs):
    for first, second, outcome, times in scene:
        for _ in range(times):
            duel(canvas, models[first], models[second], outcome, user=user, **kwargs)


def test_ratings_tallies_and_shape(api, alice, alice_team, alice_canvas, models):
    play(alice_canvas, models, SCENE, alice)

    result = board(api, alice_team)

    assert set(result) >= {"method", "votes", "models"} and result["method"] == "bradley-terry"
    assert result["votes"] == 13
    assert [set(row) for row in result["models"]] == [FIELDS] * 3
    rows = by_name(result)
    assert set(rows) == {"Gpt-5", "Claude-Sonnet", "DeepSeek (ours)"}, "a model without votes is not listed"
    tallies = {name: (r["votes"], r["wins"], r["losses"], r["ties"], r["win_rate"]) for name, r in rows.items()}
    assert tallies == {
        "Gpt-5": (9, 4, 3, 2, round(5 / 9, 4)),
        "Claude-Sonnet": (9, 3, 5, 1, round(3.5 / 9, 4)),
        "DeepSeek (ours)": (8, 4, 3, 1, round(4.5 / 8, 4)),
    }
    expected = bradley_terry(PairCounts.from_rows(
        (str(models[a].id), str(models[b].id), n * (o == "a"), n * (o == "b"), n * (o in ("tie", "both_bad")))
        for a, b, o, n in SCENE
    ))  # fmt: skip
    for model_id, rating, low, high in zip(expected.models, expected.rating, expected.low, expected.high, strict=True):
        row = next(r for r in result["models"] if r["model"] == model_id)
        assert row["rating"] == pytest.approx(rating, abs=0.01)
        assert row["ci"] == [pytest.approx(low, abs=0.01), pytest.approx(high, abs=0.01)]
        assert row["ci"][0] <= row["rating"] <= row["ci"][1]
    assert [r["rating"] for r in result["models"]] == sorted((r["rating"] for r in result["models"]), reverse=True)
    assert sum(r["rating"] for r in result["models"]) / 3 == pytest.approx(1000, abs=0.02)
    assert rows["DeepSeek (ours)"]["self_hosted"] and not rows["Gpt-5"]["self_hosted"]
    assert rows["DeepSeek (ours)"]["provider_kind"] == "vllm"


def test_medians_come_from_the_voted_answers_only(api, alice, alice_team, alice_canvas, models):
    gpt, claude = models["gpt"], models["claude"]
    figures = [(100, "0.001", 50.0), (300, "0.003", 70.0), (200, "0.002", 60.0), (400, "0.004", 80.0)]
    for ttft, cost, speed in figures:
        question = prompt(alice_canvas)
        mine = answer(question, gpt, ttft_ms=ttft, cost=Decimal(cost), tokens_per_s=speed)
        vote(mine, answer(question, claude, ttft_ms=900), "a", user=alice)
    answer(prompt(alice_canvas), gpt, ttft_ms=5, cost=Decimal("0.00001"), tokens_per_s=999.0)  # never voted on

    rows = by_name(board(api, alice_team))

    # Four answers: the lower of the two middle values, an actual answer's figure.
    assert rows["Gpt-5"]["ttft_ms_p50"] == 200
    assert rows["Gpt-5"]["cost_per_answer_p50"] == "0.002"
    assert rows["Gpt-5"]["tokens_per_s_p50"] == 60.0
    assert rows["Claude-Sonnet"]["ttft_ms_p50"] == 900
    assert rows["Claude-Sonnet"]["cost_per_answer_p50"] is None and rows["Claude-Sonnet"]["tokens_per_s_p50"] is None


def test_judge_filter_keeps_people_and_judge_models_apart(api, alice, alice_team, alice_canvas, models):
    judge = model("judge-1", "openai")
    duel(alice_canvas, models["gpt"], models["claude"], "a", user=alice)
    duel(alice_canvas, models["gpt"], models["ds"], "b", judge=judge)
    duel(alice_canvas, models["claude"], models["ds"], "a", judge=judge)

    people, judges, everyone = (board(api, alice_team, judge=j) for j in ("human", "model", "all"))

    assert board(api, alice_team) == people
    assert (people["votes"], judges["votes"], everyone["votes"]) == (1, 2, 3)
    assert set(by_name(people)) == {"Gpt-5", "Claude-Sonnet"}
    assert by_name(judges)["DeepSeek (ours)"]["wins"] == 1 and by_name(judges)["Claude-Sonnet"]["wins"] == 1
    assert set(by_name(everyone)) == {"Gpt-5", "Claude-Sonnet", "DeepSeek (ours)"}


def test_period_filter_takes_whole_utc_days(api, alice, alice_team, alice_canvas, models):
    gpt, claude = models["gpt"], models["claude"]
    duel(alice_canvas, gpt, claude, "a", user=alice, when=datetime(2026, 1, 10, 23, 30, tzinfo=UTC))
    duel(alice_canvas, gpt, claude, "b", user=alice, when=datetime(2026, 2, 10, 0, 0, tzinfo=UTC))
    duel(alice_canvas, gpt, claude, "tie", user=alice, when=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))

    def gpt_record(**period):
        row = by_name(board(api, alice_team, **period))["Gpt-5"]
        return row["wins"], row["losses"], row["ties"]

    assert gpt_record(until="2026-01-10") == (1, 0, 0)
    assert gpt_record(since="2026-02-01") == (0, 1, 1)
    assert gpt_record(since="2026-01-11", until="2026-02-10") == (0, 1, 0)
    assert board(api, alice_team, since="2026-04-01") == {**board(api, alice_team, since="2026-04-01"),
                                                          "votes": 0, "models": []}  # fmt: skip


def test_tag_filter_takes_the_canvases_carrying_it(api, alice, alice_team, alice_canvas, models):
    coding = Canvas.objects.create(team=alice_team, title="Code", created_by=alice, tags=["coding", "python"])
    duel(alice_canvas, models["gpt"], models["claude"], "a", user=alice)
    duel(coding, models["gpt"], models["ds"], "b", user=alice)

    tagged = board(api, alice_team, tag="coding")

    assert tagged["votes"] == 1 and set(by_name(tagged)) == {"Gpt-5", "DeepSeek (ours)"}
    assert board(api, alice_team, tag="writing")["models"] == []
    assert board(api, alice_team)["votes"] == 2
    # A tag is read as stored tags are cleaned: a NUL (which PostgreSQL refuses in the filter) is dropped.
    assert board(api, alice_team, tag="cod\x00ing")["votes"] == 1


def test_votes_between_answers_of_the_same_model_are_left_out(api, alice, alice_team, alice_canvas, models):
    duel(alice_canvas, models["gpt"], models["gpt"], "a", user=alice)
    duel(alice_canvas, models["gpt"], models["claude"], "a", user=alice)

    result = board(api, alice_team)

    assert result["votes"] == 1 and by_name(result)["Gpt-5"]["votes"] == 1


@pytest.mark.parametrize(
    ("params", "where"),
    [({"judge": "robot"}, "judge"), ({"since": "last week"}, "since"), ({"until": "2026-13-01"}, "until")],
)
def test_bad_filters_are_400(api, alice_team, params, where):
    response = api.get(f"/api/teams/{alice_team.id}/leaderboard", params)

    assert response.status_code == 400
    assert where in response.json()["error"]["message"]


def test_judge_agreement_with_the_people_majority(api, alice, alice_team, alice_canvas, models, django_user_model):
    bob = django_user_model.objects.create_user("bob")
    judge = model("judge-1", "openai", display_name="Judge")
    gpt, claude, ds = models["gpt"], models["claude"], models["ds"]
    # Pair 1: both people say gpt; so does the judge. Pair 2: people say ds; the judge says gpt.
    # Pair 3: people are split; it does not count. Pair 4: people call a tie, the judge "both bad": agree.
    _, a1, b1, _ = duel(alice_canvas, gpt, claude, "a", user=alice)
    vote(a1, b1, "a", user=bob)
    vote(a1, b1, "a", judge=judge)
    _, a2, b2, _ = duel(alice_canvas, gpt, ds, "b", user=alice)
    vote(a2, b2, "a", judge=judge)
    _, a3, b3, _ = duel(alice_canvas, claude, ds, "a", user=alice)
    vote(a3, b3, "b", user=bob)
    vote(a3, b3, "a", judge=judge)
    _, a4, b4, _ = duel(alice_canvas, claude, ds, "tie", user=alice)
    vote(a4, b4, "both_bad", judge=judge)
    duel(alice_canvas, gpt, ds, "a", judge=judge)  # judged by the judge only

    agreement = board(api, alice_team)["agreement"]

    assert (agreement["pairs"], agreement["agreeing"], agreement["rate"]) == (3, 2, round(2 / 3, 4))
    assert agreement["by_judge"] == [
        {"model": str(judge.id), "display_name": "Judge", "pairs": 3, "agreeing": 2, "rate": round(2 / 3, 4)}
    ]


def test_slice_costs_price_the_voted_answers_at_each_model(api, alice, alice_team, alice_canvas, models):
    tokens = {"input_tokens": 1000, "cached_input_tokens": 400, "output_tokens": 200, "cost": Decimal("0.01")}
    duel(alice_canvas, models["gpt"], models["claude"], "a", user=alice, **tokens)
    duel(alice_canvas, models["gpt"], models["ds"], "a", user=alice, **tokens)

    costs = board(api, alice_team)["costs"]

    # Four answers of 600 fresh + 400 cached input and 200 output tokens each.
    assert costs["actual"] == "0.04" and costs["answers"] == 4
    estimates = {row["display_name"]: row["cost"] for row in costs["by_model"]}
    assert estimates["Gpt-5"] == str(4 * (600 * Decimal("1.25") + 400 * Decimal("0.125") + 200 * 10) / 10**6)
    assert estimates["Claude-Sonnet"] == "0.01968"  # 4 × (1800 + 120 + 3000) / 1e6
    assert estimates["DeepSeek (ours)"] == "0.000528"  # 4 × (30 + 2 + 100) / 1e6
    assert "Idle-Model" not in estimates, "a model without a price has no estimate"
    assert all(row["estimated"] is True for row in costs["by_model"])


def test_every_change_of_the_votes_shows_on_the_next_read(
    api, alice, alice_team, alice_canvas, models, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        *_, first = duel(alice_canvas, models["gpt"], models["claude"], "a", user=alice)
    assert board(api, alice_team)["votes"] == 1

    with django_capture_on_commit_callbacks(execute=True):
        duel(alice_canvas, models["gpt"], models["ds"], "a", user=alice)
    assert board(api, alice_team)["votes"] == 2, "a new vote"

    with django_capture_on_commit_callbacks(execute=True):
        first.outcome = FLIPPED[first.outcome]  # the other answer won
        first.save()
    assert by_name(board(api, alice_team))["Claude-Sonnet"]["wins"] == 1, "a changed vote"

    with django_capture_on_commit_callbacks(execute=True):
        first.delete()
    assert board(api, alice_team)["votes"] == 1, "a deleted vote"

    with django_capture_on_commit_callbacks(execute=True):
        alice_canvas.tags = ["mine"]
        alice_canvas.save()
    assert board(api, alice_team, tag="mine")["votes"] == 1, "a canvas's new tags"

    elsewhere = Team.objects.create(name="Elsewhere")
    Membership.objects.create(team=elsewhere, user=alice, role=Role.OWNER)
    assert (board(api, alice_team)["votes"], board(api, elsewhere)["votes"]) == (1, 0)
    with django_capture_on_commit_callbacks(execute=True):
        alice_canvas.team = elsewhere
        alice_canvas.save(update_fields=["team", "updated_at"])
    assert (board(api, alice_team)["votes"], board(api, elsewhere)["votes"]) == (0, 1), "a canvas moved"

    with django_capture_on_commit_callbacks(execute=True):
        models["gpt"].display_name = "GPT five"
        models["gpt"].save()
    assert "GPT five" in by_name(board(api, elsewhere)), "a model renamed"

    with django_capture_on_commit_callbacks(execute=True):
        alice_canvas.delete()
    assert board(api, elsewhere)["votes"] == 0, "a canvas deleted, its votes with it"


def test_a_deleted_canvas_leaves_the_board_at_once_and_comes_back_when_restored(
    api, alice, alice_team, alice_canvas, models, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        duel(alice_canvas, models["gpt"], models["claude"], "a", user=alice)
    assert board(api, alice_team)["votes"] == 1  # read once, so the next reads would come from the cache

    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/canvases/{alice_canvas.id}").status_code == 204
    assert board(api, alice_team)["votes"] == 0, "the votes of a canvas in the trash"

    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/canvases/{alice_canvas.id}/restore").status_code == 200
    assert board(api, alice_team)["votes"] == 1, "restored, its votes count again"


def test_a_change_only_of_its_time_of_change_keeps_the_cache(
    api, alice, alice_team, alice_canvas, models, django_capture_on_commit_callbacks
):
    duel(alice_canvas, models["gpt"], models["claude"], "a", user=alice)
    board(api, alice_team)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        alice_canvas.save(update_fields=["updated_at"])  # what every prompt does (services.mark_changed)

    assert callbacks == []


def queries_for(api, team, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        board(api, team, **params)
    return len(queries)


def test_queries_do_not_grow_with_votes_or_models(api, alice, alice_team, alice_canvas, models, django_user_model):
    small = Team.objects.create(name="Small")
    Membership.objects.create(team=small, user=alice, role=Role.OWNER)
    canvas = Canvas.objects.create(team=small, title="Small", created_by=alice)
    duel(canvas, models["gpt"], models["claude"], "a", user=alice)
    judge = model("judge-1", "openai")
    _, a, b, _ = duel(canvas, models["gpt"], models["ds"], "a", user=alice)
    vote(a, b, "b", judge=judge)
    more = [model(f"extra-{i}", "openai", price=("1", "0.1", "2")) for i in range(6)]
    for i, first in enumerate(more):
        for second in more[i + 1 :]:
            _, a, b, _ = duel(alice_canvas, first, second, "a", user=alice)
            vote(a, b, "b", judge=judge)

    api.get("/api/teams")  # the token's first use of the day writes its time of use
    cold_small, cold_large = queries_for(api, small), queries_for(api, alice_team)
    warm_small, warm_large = queries_for(api, small), queries_for(api, alice_team)

    assert cold_small == cold_large <= 10
    assert warm_small == warm_large < cold_large, "the second read comes from the cache"


def rows_handled(plan: dict) -> int:
    """The rows every step of an EXPLAIN ANALYZE plan (JSON) produced or filtered out, over all its loops:
    what grows with the square of the votes when a subquery is run again for every answer."""
    own = (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)) * plan["Actual Loops"]
    return own + sum(rows_handled(child) for child in plan.get("Plans", []))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans and work_mem")
def test_the_voted_answers_are_read_without_rereading_the_votes_when_memory_is_short(alice, alice_team, alice_canvas,
                                                                                      models):  # fmt: skip
    """When the voted answers' ids outgrow PostgreSQL's work_mem, the medians' query still handles each vote
    and answer a few times, never every vote once per answer (minutes at a few hundred thousand votes)."""
    duels = 3000
    prompts = [Node(canvas=alice_canvas, kind=NodeKind.PROMPT, text="Q", created_by=alice) for _ in range(duels)]
    answers = [
        [Node(canvas=alice_canvas, kind=NodeKind.RESPONSE, model=models[key], status=NodeStatus.DONE, ttft_ms=i % 97,
              created_by=alice) for key in ("gpt", "claude")]
        for i in range(duels)
    ]  # fmt: skip
    Node.objects.bulk_create(prompts + [a for pair in answers for a in pair], batch_size=2000)
    stored = [sorted(pair, key=lambda n: str(n.id)) for pair in answers]  # the order votes are kept in
    Vote.objects.bulk_create(
        [Vote(canvas=alice_canvas, prompt=p, a=a, b=b, model_a=a.model, model_b=b.model, outcome="a", user=alice)
         for p, (a, b) in zip(prompts, stored, strict=True)],
        batch_size=2000,
    )  # fmt: skip
    votes = Scope().votes(alice_team).exclude(model_a=F("model_b"))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE canvas_vote, canvas_node, canvas_canvas")
        cursor.execute("SET LOCAL work_mem = '64kB'")
        cursor.execute("SET LOCAL hash_mem_multiplier = 1")
        with CaptureQueriesContext(connection) as captured:
            figures = answer_figures(voted_answers(votes))
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {captured.captured_queries[-1]['sql']}")
        plan = cursor.fetchone()[0][0]["Plan"]

    assert figures[str(models["gpt"].id)]["answers"] == figures[str(models["claude"].id)]["answers"] == duels
    assert rows_handled(plan) < 20 * (len(prompts) + 2 * duels + duels), "a few passes over prompts, answers and votes"
