"""Usage figures: a team's runs summed exactly as stored, grouped by day, model, provider or person, over
whole UTC days; the CSV gives back the JSON's rows; a person's own usage spans their teams. Who may
ask for what is also in tests/test_access_matrix.py."""

from __future__ import annotations

import csv
import io
import random
import statistics
from datetime import timedelta
from decimal import Decimal

import pytest

from canvas.models import NodeStatus
from engine.cost import cost_of
from providers.base import Usage
from tests.usage_world import at, canvas_of, model_of, price, run, signed_in, team_of
from usage import aggregate
from usage.aggregate import summarise, team_runs
from usage.periods import Period, parse_period
from usage.report import build

pytestmark = pytest.mark.django_db

FIGURES = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens")


@pytest.fixture
def dave(django_user_model):
    return django_user_model.objects.create_user("dave", password="dave-password-1")


@pytest.fixture
def lab(alice, dave):
    return team_of("Lab", owner=alice, editor=dave)


@pytest.fixture
def models():
    return {
        "mini": model_of("OpenAI", "gpt-mini"),
        "big": model_of("OpenAI", "gpt-big"),
        "claude": model_of("Anthropic", "claude", kind="anthropic"),
    }


@pytest.fixture
def busy_lab(lab, alice, dave, models):
    """Sixty runs over five days in March: finished ones with every figure (costs to ten decimals, some
    cache hits and reasoning; five with no cost, as with no price), failures, throttled ones and one
    still queued with no figures at all."""
    canvas = canvas_of(lab, alice)
    rng = random.Random(14)
    nodes = []
    for n in range(60):
        when = at(f"2026-03-0{1 + n % 5}", hour=rng.randrange(24), minute=rng.randrange(60))
        model = list(models.values())[n % 3]
        user = (alice, dave)[n % 2]
        if n % 11 == 3:
            code = ("rate_limited", "server")[n % 2]
            nodes.append(run(canvas, model, user, when, status=NodeStatus.ERROR, error_code=code))
            continue
        if n == 59:
            nodes.append(run(canvas, model, user, when, status=NodeStatus.QUEUED))
            continue
        inputs = rng.randrange(10, 50_000)
        output = rng.randrange(1, 8_000)
        nodes.append(
            run(
                canvas,
                model,
                user,
                when,
                input_tokens=inputs,
                cached_input_tokens=rng.randrange(0, inputs),
                output_tokens=output,
                reasoning_tokens=rng.randrange(0, output),
                cost=None if n % 13 == 5 else Decimal(rng.randrange(1, 10**9)) / Decimal(10**10),
                ttft_ms=rng.randrange(80, 4000),
                tokens_per_s=rng.uniform(5, 300),
            )  # fmt: skip
        )
    return nodes


MARCH = Period(at("2026-03-01").date(), at("2026-03-31").date())


def stored(nodes, field):
    return [getattr(node, field) for node in nodes if getattr(node, field) is not None]


@pytest.mark.parametrize("by", ["day", "model", "provider", "user"])
def test_totals_equal_the_sums_of_the_stored_figures_to_the_last_digit(busy_lab, lab, by):
    report = build(team_runs(lab, MARCH), MARCH, by)

    total = report.total
    assert total["runs"] == 60 == sum(row["runs"] for row in report.rows)
    assert total["errors"] == 6 == sum(row["errors"] for row in report.rows)
    assert total["unpriced"] == 5 == sum(row["unpriced"] for row in report.rows)
    for field in FIGURES:
        assert total[field] == sum(stored(busy_lab, field)) == sum(row[field] for row in report.rows)
    assert total["cost"] == sum(stored(busy_lab, "cost")) == sum(row["cost"] for row in report.rows)
    assert total["ttft_ms_p50"] == statistics.median(stored(busy_lab, "ttft_ms"))
    assert total["tokens_per_s_p50"] == pytest.approx(statistics.median(stored(busy_lab, "tokens_per_s")), abs=1e-9)


def test_each_group_holds_exactly_its_own_runs(busy_lab, lab, models):
    report = build(team_runs(lab, MARCH), MARCH, "model")

    by_key = {row["key"]: row for row in report.rows}
    for model in models.values():
        mine = [node for node in busy_lab if node.model_id == model.id]
        row = by_key[str(model.id)]
        assert row["label"] == model.display_name
        assert row["runs"] == len(mine)
        assert row["cost"] == sum(stored(mine, "cost"))
        assert row["cached_input_tokens"] == sum(stored(mine, "cached_input_tokens"))
        assert row["ttft_ms_p50"] == statistics.median(stored(mine, "ttft_ms"))


def test_the_api_gives_the_cost_as_a_decimal_string_like_a_node(busy_lab, lab, alice):
    response = signed_in(alice).get(f"/api/teams/{lab.id}/usage", {"since": "2026-03-01", "until": "2026-03-31"})

    assert response.status_code == 200, response.content
    body = response.json()
    exact = sum(stored(busy_lab, "cost"))
    assert body["total"]["cost"] == format(exact.normalize(), "f")
    assert [row["key"] for row in body["rows"]] == [f"2026-03-0{d}" for d in range(1, 6)]
    assert sum(Decimal(row["cost"]) for row in body["rows"]) == exact
    assert set(body["rows"][0]) == {"key", "label", *aggregate.USAGE}


def test_the_csv_reads_back_as_the_json_rows(busy_lab, lab, alice):
    client = signed_in(alice)
    query = {"since": "2026-03-01", "until": "2026-03-31", "by": "user"}

    rows = client.get(f"/api/teams/{lab.id}/usage", query).json()["rows"]
    response = client.get(f"/api/teams/{lab.id}/usage", query | {"format": "csv"})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    parsed = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [_typed(row) for row in parsed] == rows
    assert [row["key"] for row in rows] == sorted(["alice", "dave"], key=lambda k: -Decimal(_row(rows, k)["cost"]))


def _row(rows, key):
    return next(row for row in rows if row["key"] == key)


def _typed(row: dict) -> dict:
    ints = ("runs", "errors", "unpriced", *FIGURES)
    floats = ("ttft_ms_p50", "tokens_per_s_p50")
    return {
        name: int(value) if name in ints else (float(value) if value else None) if name in floats else value
        for name, value in row.items()
    }


def test_costs_keep_the_price_they_were_billed_at_when_prices_change_within_the_period(lab, alice, models):
    model = models["mini"]
    old, new = price(model, "2026-01-01", "1", "0.1", "4"), price(model, "2026-03-15", "2", "0.5", "8")
    canvas = canvas_of(lab, alice)
    usage = Usage(input_tokens=1000, cached_input_tokens=400, output_tokens=300, reasoning_tokens=100)
    before = run(canvas, model, alice, at("2026-03-10"), cost=cost_of(usage, old), **_counts(usage))
    after = run(canvas, model, alice, at("2026-03-20"), cost=cost_of(usage, new), **_counts(usage))

    report = build(team_runs(lab, MARCH), MARCH, "model")

    assert report.total["cost"] == before.cost + after.cost == Decimal("0.0018400000") + Decimal("0.0038000000")
    assert report.total["cached_input_tokens"] == 800 and report.total["reasoning_tokens"] == 200
    assert report.total["cost"] != 2 * cost_of(usage, new)


def _counts(usage: Usage) -> dict:
    return {name: getattr(usage, name) for name in FIGURES}


def test_a_run_counts_for_the_team_it_was_billed_to_on_the_utc_day_it_was_created(lab, alice, models, charlie):
    elsewhere = team_of("Elsewhere", owner=charlie)
    mine, theirs = canvas_of(lab, alice), canvas_of(elsewhere, charlie)
    model = models["mini"]
    run(mine, model, alice, at("2026-03-01", 0, 0), cost=Decimal("1"))  # first instant of the period
    run(mine, model, alice, at("2026-03-31", 23, 59), cost=Decimal("2"))  # last minute of it
    run(mine, model, alice, at("2026-02-28", 23, 59), cost=Decimal("4"))  # the day before
    run(mine, model, alice, at("2026-04-01", 0, 0), cost=Decimal("8"))  # the day after
    run(theirs, model, charlie, at("2026-03-05"), billed_to=lab, cost=Decimal("16"))  # ran here, canvas moved since
    run(mine, model, alice, at("2026-03-05"), billed_to=elsewhere, cost=Decimal("32"))  # ran there, moved here
    run(mine, model, alice, at("2026-03-05"), billed_to=None, cost=Decimal("64"))  # imported

    report = build(team_runs(lab, MARCH), MARCH, "day")

    assert report.total["cost"] == Decimal(1 + 2 + 16)
    assert [(row["key"], row["cost"]) for row in report.rows] == [
        ("2026-03-01", 1),
        ("2026-03-05", 16),
        ("2026-03-31", 2),
    ]


@pytest.mark.parametrize("keys", [(), ("day",), ("model",), ("provider",), ("user",), ("day", "model")])
def test_the_exact_fallback_for_sqlite_agrees_with_the_database(busy_lab, lab, keys):
    runs = team_runs(lab, MARCH)
    measures = (*aggregate.USAGE, "rate_limited")

    in_python = aggregate._in_python(runs.nodes(), keys, measures)
    in_database = aggregate._in_database(runs.nodes(), keys, measures)

    def order(groups):
        return sorted(groups, key=lambda g: tuple(str(g[k]) for k in keys))

    assert order(in_python) == order(in_database)


def test_a_period_with_no_runs_sums_to_zero(lab):
    empty = Period(at("2020-01-01").date(), at("2020-01-31").date())

    [total] = summarise(team_runs(lab, empty))

    assert total["runs"] == 0 and total["cost"] == 0 and total["ttft_ms_p50"] is None


@pytest.mark.parametrize(
    "query",
    [
        {"since": "2026-3-1"},
        {"since": "yesterday"},
        {"until": "2026-02-30"},
        {"since": "2026-03-02", "until": "2026-03-01"},
        {"since": "2000-01-01", "until": "2026-01-01"},
        {"by": "canvas"},
        {"format": "xml"},
    ],
)
def test_a_malformed_question_is_a_400_with_a_json_error(lab, alice, query):
    response = signed_in(alice).get(f"/api/teams/{lab.id}/usage", query)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_the_default_period_is_the_last_30_days_up_to_today():
    period = parse_period(None, None, now=at("2026-03-31", 18))

    assert (period.since, period.until) == (at("2026-03-02").date(), at("2026-03-31").date())
    assert period.end - period.start == timedelta(days=30)


def test_per_person_rows_are_for_owners_only(busy_lab, lab, alice, dave):
    query = {"since": "2026-03-01", "until": "2026-03-31", "by": "user"}

    assert signed_in(alice).get(f"/api/teams/{lab.id}/usage", query).status_code == 200
    refused = signed_in(dave).get(f"/api/teams/{lab.id}/usage", query)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert signed_in(dave).get(f"/api/teams/{lab.id}/usage", query | {"by": "model"}).status_code == 200


def test_my_usage_covers_my_runs_in_every_team_and_nobody_elses(lab, alice, dave, charlie, models):
    elsewhere = team_of("Elsewhere", owner=dave, viewer=charlie)
    model = models["claude"]
    run(canvas_of(lab, alice), model, dave, at("2026-03-02"), input_tokens=10, cost=Decimal("0.1"))
    run(canvas_of(elsewhere, dave), model, dave, at("2026-03-03"), input_tokens=20, cost=Decimal("0.2"))
    run(canvas_of(lab, alice), model, alice, at("2026-03-03"), input_tokens=40, cost=Decimal("0.4"))
    run(canvas_of(lab, alice), model, dave, at("2026-03-03"), billed_to=None, input_tokens=80, cost=Decimal("0.8"))

    body = signed_in(dave).get("/api/usage", {"since": "2026-03-01", "until": "2026-03-31", "by": "team"}).json()

    assert body["total"]["input_tokens"] == 30 and body["total"]["cost"] == "0.3"
    assert {(row["key"], row["label"], row["cost"]) for row in body["rows"]} == {
        (str(lab.id), "Lab", "0.1"),
        (str(elsewhere.id), "Elsewhere", "0.2"),
    }
