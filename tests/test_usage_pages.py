"""The usage pages and the budgets of the team page: what each person sees, the htmx partial, budgets set
by owners (and refused to anyone else), the bars and their warnings, the self-hosted economics and the
staff's provider health. The charts and htmx in a real browser are tests/test_browser_usage.py."""

from __future__ import annotations

import html as html_module
import json
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from canvas.models import Membership, NodeStatus, Team
from engine.cost import cost_of
from engine.limits import month_spend
from providers.base import Usage
from providers.pricing import derived_price
from tests.usage_world import at, canvas_of, model_of, price, run, signed_in, team_of
from usage.budgets import parse_budget

pytestmark = pytest.mark.django_db

MARCH = {"since": "2026-03-01", "until": "2026-03-31"}


@pytest.fixture
def dave(django_user_model):
    return django_user_model.objects.create_user("dave", password="dave-password-1")


@pytest.fixture
def lab(alice, dave):
    return team_of("Lab", owner=alice, editor=dave)


@pytest.fixture
def mini():
    return model_of("OpenAI", "gpt-mini")


def usage_page(client, team, **query):
    return client.get(f"/teams/{team.id}/usage/", query)


def chart_data(response) -> dict:
    found = re.search(r'<div id="usage-chart-data" hidden data-json="(.*?)"></div>', response.content.decode(), re.S)
    return json.loads(html_module.unescape(found.group(1)))


# --- the usage page ----------------------------------------------------------------------------------


def test_a_member_sees_the_teams_totals_rows_and_charts(lab, alice, dave, mini):
    canvas = canvas_of(lab, alice)
    run(canvas, mini, alice, at("2026-03-02"), input_tokens=1200, output_tokens=300, cost=Decimal("0.0123456789"))
    run(canvas, mini, dave, at("2026-03-04"), input_tokens=800, output_tokens=100, cost=Decimal("0.5"))

    response = usage_page(signed_in(dave), lab, **MARCH, by="model")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and 'name="since"' in html and 'hx-get="/teams/' in html
    assert '<th scope="row">Gpt-Mini</th>' in html and "2,000" in html and 'title="$0.5123456789"' in html
    assert f"/api/teams/{lab.id}/usage?since=2026-03-01&amp;until=2026-03-31&amp;by=model&amp;format=csv" in html
    data = chart_data(response)
    assert len(data["x"]) == 31
    [cost] = data["charts"]["cost"]["series"]
    assert cost["label"] == "Gpt-Mini"
    assert cost["values"][1] == "0.0123456789" and cost["values"][3] == "0.5" and cost["values"][0] == "0"
    assert data["charts"]["tokens"]["series"][0]["values"][1] == 1500


def test_runs_with_no_price_are_shown_apart_never_as_free(lab, alice, mini):
    """A self-hosted model with no price set: its cost is "no price", not $0; beside priced runs the
    total says how many it leaves out. A run that used no tokens (failed at once) is not one of them."""
    local = model_of("Our vLLM", "deepseek-local", kind="vllm")
    canvas = canvas_of(lab, alice)
    run(canvas, mini, alice, at("2026-03-02"), input_tokens=1000, output_tokens=200, cost=Decimal("0.25"))
    for day in ("2026-03-02", "2026-03-03"):
        run(canvas, local, alice, at(day), input_tokens=900, output_tokens=400)
    run(canvas, local, alice, at("2026-03-03"), status=NodeStatus.ERROR, error_code="server")

    response = usage_page(signed_in(alice), lab, **MARCH, by="model")

    html = response.content.decode()
    assert re.search(r'<th scope="row">Deepseek-Local</th>(<td>[^<]*</td>){6}<td title="\$0">no price</td>', html)
    assert re.search(r'<th scope="row">Gpt-Mini</th>(<td>[^<]*</td>){6}<td title="\$0.25">\$0.2500</td>', html)
    assert '<td title="$0.25">$0.2500 <small class="muted">(2 without a price)</small></td>' in html
    api = signed_in(alice).get(f"/api/teams/{lab.id}/usage", MARCH | {"by": "model"}).json()
    assert sorted((row["label"], row["unpriced"], row["cost"]) for row in api["rows"]) == [
        ("Deepseek-Local", 2, "0"),
        ("Gpt-Mini", 0, "0.25"),
    ]
    assert (api["total"]["runs"], api["total"]["unpriced"]) == (4, 2)
    # Its line would lie at $0 on the cost chart: it is named under the charts instead.
    charts = chart_data(response)["charts"]
    assert [line["label"] for line in charts["cost"]["series"]] == ["Gpt-Mini"]
    assert charts["cost"]["left_out"] == ["Deepseek-Local"]
    assert sorted(line["label"] for line in charts["tokens"]["series"]) == ["Deepseek-Local", "Gpt-Mini"]
    assert "Not on the cost chart (no price): Deepseek-Local" in html


def test_htmx_gets_only_the_report_from_the_same_template(lab, alice, mini):
    run(canvas_of(lab, alice), mini, alice, at("2026-03-02"), cost=Decimal("1"))

    response = signed_in(alice).get(
        f"/teams/{lab.id}/usage/", MARCH | {"by": "provider"}, headers={"HX-Request": "true"}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith("{#") is False and "<html" not in html
    assert 'id="usage-report"' in html and 'data-by="provider"' in html and "usage-chart-data" in html
    assert '<th scope="row">OpenAI</th>' in html


def test_the_person_grouping_is_offered_to_owners_only(lab, alice, dave):
    assert '<option value="user"' in usage_page(signed_in(alice), lab).content.decode()
    assert '<option value="user"' not in usage_page(signed_in(dave), lab).content.decode()
    assert usage_page(signed_in(dave), lab, by="user").status_code == 403


def test_a_bad_period_shows_the_default_one_with_a_message(lab, alice):
    response = usage_page(signed_in(alice), lab, since="2026-13-01")

    assert response.status_code == 400
    assert b"since must be a date written YYYY-MM-DD" in response.content


def test_provider_health_is_for_staff_only(lab, alice, dave, mini):
    canvas = canvas_of(lab, alice)
    today = timezone.now()
    run(canvas, mini, alice, today, ttft_ms=300)
    run(canvas, mini, alice, today, ttft_ms=500)
    run(canvas, mini, alice, today, status=NodeStatus.ERROR, error_code="rate_limited")
    run(canvas, mini, alice, today, status=NodeStatus.ERROR, error_code="server")
    dave.is_staff = True
    dave.save()

    staff = usage_page(signed_in(dave), lab)
    owner = usage_page(signed_in(alice), lab)

    assert b"Provider health" not in owner.content and "error_rate" not in chart_data(owner)["charts"]
    html = staff.content.decode()
    assert "Provider health" in html
    row = re.search(r"<tr><th scope=\"row\">OpenAI .*?</tr>", html).group(0)
    assert re.findall(r"<td>([^<]*)</td>", row) == ["4", "2", "50.0%", "1", "400"]
    [line] = chart_data(staff)["charts"]["rate_limited"]["series"]
    assert line["label"] == "OpenAI" and line["values"][-1] == 1


def test_my_usage_page_lists_my_teams(lab, alice, dave, mini):
    run(canvas_of(lab, alice), mini, dave, timezone.now(), cost=Decimal("0.25"))

    response = signed_in(dave).get("/accounts/usage/", {"by": "team"})

    assert response.status_code == 200
    assert '<th scope="row">Lab</th>' in response.content.decode()
    assert "/api/usage?since=" in response.content.decode()


# --- open-weight economics ---------------------------------------------------------------------------


def test_the_self_hosted_tokens_are_costed_by_the_hour_by_the_token_and_on_each_api_model(lab, alice, mini):
    gpu = model_of("vLLM", "deepseek", kind="vllm", gpu_hourly_cost=Decimal("2.5"), gpu_tokens_per_s=1000)
    price(mini, "2026-01-01", "0.15", "0.075", "0.6")
    canvas = canvas_of(lab, alice)
    for hour, minute in ((9, 5), (9, 50), (11, 0)):  # two clock hours served
        run(canvas, gpu, alice, at("2026-03-03", hour, minute), input_tokens=100_000, cached_input_tokens=60_000,
            output_tokens=20_000, tokens_per_s=40.0)  # fmt: skip
    run(canvas, mini, alice, at("2026-03-03"), input_tokens=5, output_tokens=5, cost=Decimal("0.01"))

    html = usage_page(signed_in(alice), lab, **MARCH).content.decode()

    usage = Usage(input_tokens=300_000, cached_input_tokens=180_000, output_tokens=60_000)
    by_token = cost_of(usage, derived_price(Decimal("2.5"), 1000))
    on_mini = cost_of(usage, mini.prices.get())
    assert "Self-hosted against the APIs" in html and "<h3>Deepseek (vLLM)</h3>" in html
    assert "60,000 output tokens. Billed at the time: no price." in html  # no price per token: by the hour
    assert '<strong class="by-the-hour">$5.0000</strong>' in html  # 2 hours at $2.50
    assert f'<strong class="by-the-token">${by_token:,.4f}</strong>' in html
    assert f"<td>${on_mini:,.4f}</td><td>{(on_mini / Decimal(5)).quantize(Decimal('0.1'))}×</td>" in html


def test_without_self_hosted_runs_there_is_no_economics_section(lab, alice, mini):
    run(canvas_of(lab, alice), mini, alice, at("2026-03-03"), cost=Decimal("0.01"))

    assert b"Self-hosted against the APIs" not in usage_page(signed_in(alice), lab, **MARCH).content


# --- budgets -----------------------------------------------------------------------------------------


def test_an_owner_sets_the_teams_budget_on_the_team_page(lab, alice):
    client = signed_in(alice)

    response = client.post(f"/teams/{lab.id}/budget", {"monthly_budget_usd": "250.50"}, follow=True)

    lab.refresh_from_db()
    assert lab.monthly_budget_usd == Decimal("250.50")
    assert b"monthly budget is $250.50" in response.content
    client.post(f"/teams/{lab.id}/budget", {"monthly_budget_usd": ""})
    lab.refresh_from_db()
    assert lab.monthly_budget_usd is None


def test_a_member_cannot_set_a_budget(lab, alice, dave):
    key = Membership.objects.get(team=lab, user=dave).key

    team_answer = signed_in(dave).post(f"/teams/{lab.id}/budget", {"monthly_budget_usd": "1000"})
    own_answer = signed_in(dave).post(f"/teams/{lab.id}/members/{key}/budget", {"monthly_budget_usd": "1000"})

    assert (team_answer.status_code, own_answer.status_code) == (403, 403)
    assert Team.objects.get(pk=lab.pk).monthly_budget_usd is None
    assert Membership.objects.get(key=key).monthly_budget_usd is None
    assert b"Save team budget" not in signed_in(dave).get(f"/teams/{lab.id}/").content


def test_an_owner_sets_a_persons_budget_within_the_team(lab, alice, dave):
    key = Membership.objects.get(team=lab, user=dave).key

    response = signed_in(alice).post(f"/teams/{lab.id}/members/{key}/budget", {"monthly_budget_usd": "$40"})

    assert response.status_code == 302 and response["Location"] == f"/teams/{lab.id}/#budgets"
    assert Membership.objects.get(key=key).monthly_budget_usd == Decimal("40.00")


@pytest.mark.parametrize("typed", ["-1", "abc", "1.005", "NaN", "Infinity", "1e20"])
def test_a_budget_that_is_no_amount_is_refused_with_a_message(lab, alice, typed):
    response = signed_in(alice).post(f"/teams/{lab.id}/budget", {"monthly_budget_usd": typed}, follow=True)

    assert b"A budget is an amount in US dollars" in response.content
    assert Team.objects.get(pk=lab.pk).monthly_budget_usd is None


def test_budgets_are_read_as_typed():
    assert parse_budget(" 1,250.5 ") == Decimal("1250.50")
    assert parse_budget("0") == Decimal("0.00")
    assert parse_budget("") is None


def test_the_bars_warn_near_the_end_and_say_clearly_past_it(lab, alice, dave, mini, settings):
    settings.PRISM_BUDGET_WARN_RATIO = 0.8
    lab.monthly_budget_usd = Decimal("10")
    lab.save()
    Membership.objects.filter(team=lab, user=dave).update(monthly_budget_usd=Decimal("2"))
    canvas = canvas_of(lab, alice)
    now = timezone.now()
    run(canvas, mini, alice, now, cost=Decimal("6.5"))
    run(canvas, mini, dave, now, cost=Decimal("2.25"))
    run(canvas, mini, dave, now - timezone.timedelta(days=40), cost=Decimal("100"))  # an earlier month

    owner_view = signed_in(alice).get(f"/teams/{lab.id}/").content.decode()
    dave_view = signed_in(dave).get(f"/teams/{lab.id}/").content.decode()

    assert month_spend(lab) == Decimal("8.75") and month_spend(lab, dave) == Decimal("2.25")
    assert 'value="8.75"' in owner_view and 'max="10"' in owner_view and 'low="8"' in owner_view
    assert "Nearing the end of the team's budget: 87% is spent." in owner_view
    assert "Their budget is spent: no new runs can start" in owner_view
    assert "Your budget is spent: no new runs can start" in dave_view
    assert 'data-username="alice"' not in dave_view.split('id="budgets"')[1]  # not another person's spend


def test_month_spend_counts_only_the_team_and_this_month(lab, alice, charlie, mini):
    other = team_of("Other", owner=charlie)
    now = timezone.now()
    run(canvas_of(lab, alice), mini, alice, now, cost=Decimal("0.0000000001"))
    run(canvas_of(other, charlie), mini, charlie, now, cost=Decimal("5"))
    run(canvas_of(lab, alice), mini, alice, now, billed_to=other, cost=Decimal("7"))
    run(canvas_of(lab, alice), mini, alice, now, status=NodeStatus.QUEUED)

    assert month_spend(lab) == Decimal("0.0000000001")
    assert month_spend(other) == Decimal("12")
