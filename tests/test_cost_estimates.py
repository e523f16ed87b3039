"""What would this have cost: GET /api/canvases/{id}/costs and GET /api/teams/{id}/costs price the
answers' tokens at each priced model's current price (cache-aware), beside what was spent; checked
against sums worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from canvas.models import Canvas, Membership, NodeStatus, Role
from providers.models import Price
from tests.vote_factory import answer, model, prompt, vote

pytestmark = pytest.mark.django_db


@pytest.fixture
def models(db):
    return {
        "gpt": model("gpt-5", "openai", price=("1.25", "0.125", "10")),
        "claude": model("claude-sonnet", "anthropic", price=("3", "0.3", "15", "3.75")),
        "ds": model("deepseek-r1", "vllm", price=("0.05", "0.005", "0.5")),
        "unpriced": model("no-price", "openai"),
    }


def fill_canvas(canvas, models):
    """Two answers with usage and one failure without: 1,500 input tokens (400 cached, 100 written to the
    cache), 250 output tokens, $0.012 spent."""
    question = prompt(canvas)
    answer(question, models["gpt"], input_tokens=1000, cached_input_tokens=400, output_tokens=200,
           reasoning_tokens=50, cost=Decimal("0.01"))  # fmt: skip
    answer(question, models["claude"], input_tokens=500, cached_input_tokens=0, cache_write_tokens=100,
           output_tokens=50, cost=Decimal("0.002"))  # fmt: skip
    answer(question, models["ds"], status=NodeStatus.ERROR, error_code="server")
    return question


def estimates(result: dict) -> dict[str, str]:
    return {row["display_name"]: row["cost"] for row in result["by_model"]}


def test_canvas_costs_at_every_priced_models_current_price(api, alice_canvas, models):
    fill_canvas(alice_canvas, models)
    # A newer price for gpt is in force; one from tomorrow is not yet.
    now = timezone.now()
    Price.objects.create(model=models["gpt"], input=2, cached_input="0.5", output=8, effective_from=now - timedelta(1))
    Price.objects.create(model=models["gpt"], input=99, cached_input=99, output=99, effective_from=now + timedelta(1))

    response = api.get(f"/api/canvases/{alice_canvas.id}/costs")

    assert response.status_code == 200
    result = response.json()
    assert result["actual"] == "0.012" and result["answers"] == 3
    assert result["tokens"] == {"input_tokens": 1500, "cached_input_tokens": 400, "cache_write_tokens": 100,
                                "output_tokens": 250}  # fmt: skip
    # 1,000 fresh input tokens, 400 read from and 100 written to the cache, 250 output; per million:
    assert estimates(result) == {
        "Deepseek-R1": "0.000182",  # 1000×0.05 + 400×0.005 + 100×0.05 (no cache-write price) + 250×0.5
        "Gpt-5": "0.0044",  # 1000×2 + 400×0.5 + 100×2 + 250×8, at the price in force now
        "Claude-Sonnet": "0.007245",  # 1000×3 + 400×0.3 + 100×3.75 + 250×15
    }
    assert [row["display_name"] for row in result["by_model"]] == ["Deepseek-R1", "Gpt-5", "Claude-Sonnet"]
    assert all(row["estimated"] is True for row in result["by_model"])


def test_a_disabled_model_gets_no_estimate(api, alice_canvas, models):
    fill_canvas(alice_canvas, models)
    models["claude"].enabled = False
    models["claude"].save()

    assert "Claude-Sonnet" not in estimates(api.get(f"/api/canvases/{alice_canvas.id}/costs").json())


def test_an_empty_canvas_costs_nothing(api, alice_canvas, models):
    result = api.get(f"/api/canvases/{alice_canvas.id}/costs").json()

    assert result["actual"] == "0" and result["answers"] == 0 and set(estimates(result).values()) == {"0"}


def test_team_costs_by_period_and_tag(api, alice, alice_team, alice_canvas, models):
    fill_canvas(alice_canvas, models)
    tagged = Canvas.objects.create(team=alice_team, title="Tagged", created_by=alice, tags=["legal"])
    old = prompt(tagged)
    answer(old, models["gpt"], input_tokens=10_000, output_tokens=1000, cost=Decimal("0.5"),
           created_at=datetime(2025, 6, 1, tzinfo=UTC))  # fmt: skip

    def team_costs(**params) -> dict:
        response = api.get(f"/api/teams/{alice_team.id}/costs", params)
        assert response.status_code == 200, response.content
        return response.json()

    assert team_costs()["actual"] == "0.512"
    assert team_costs(tag="legal")["actual"] == "0.5"
    assert estimates(team_costs(tag="legal"))["Claude-Sonnet"] == "0.045"  # 10,000×3 + 1,000×15
    assert team_costs(since="2025-07-01")["actual"] == "0.012"
    assert team_costs(until="2025-06-01")["answers"] == 1
    assert api.get(f"/api/teams/{alice_team.id}/costs", {"since": "soon"}).status_code == 400


def test_answers_of_a_blind_prompt_count_only_once_the_caller_may_know_them(
    api, alice, alice_team, alice_canvas, models, django_user_model
):
    bob = django_user_model.objects.create_user("bob")
    Membership.objects.create(team=alice_team, user=bob, role=Role.EDITOR)
    fill_canvas(alice_canvas, models)
    blind = prompt(alice_canvas, blind=True)
    first = answer(blind, models["gpt"], input_tokens=100, output_tokens=10, cost=Decimal("0.1"), label="A")
    second = answer(blind, models["claude"], input_tokens=100, output_tokens=10, cost=Decimal("0.2"), label="B")
    path = f"/api/canvases/{alice_canvas.id}/costs"

    assert api.get(path).json()["actual"] == "0.012", "hidden from alice: nobody has voted"
    vote(first, second, "a", user=bob)
    assert api.get(path).json()["actual"] == "0.012", "bob's vote reveals it to bob only"
    vote(first, second, "b", user=alice)
    assert api.get(path).json()["actual"] == "0.312", "alice voted"

    blind.votes.filter(user=alice).delete()
    blind.revealed_at = timezone.now()
    blind.save()
    assert api.get(path).json()["actual"] == "0.312", "revealed to everyone"
    assert api.get(f"/api/teams/{alice_team.id}/costs").json()["actual"] == "0.312"


def test_an_answer_with_tokens_but_no_price_is_counted_apart_from_what_was_spent(api, alice_canvas, models):
    question = prompt(alice_canvas)
    answer(question, models["gpt"], input_tokens=1000, output_tokens=100, cost=Decimal("0.01"))
    answer(question, models["unpriced"], input_tokens=1000, output_tokens=300)
    answer(question, models["unpriced"], status=NodeStatus.ERROR, error_code="auth")  # no tokens: costs nothing

    result = api.get(f"/api/canvases/{alice_canvas.id}/costs").json()

    assert (result["actual"], result["answers"], result["unpriced"]) == ("0.01", 3, 1)
