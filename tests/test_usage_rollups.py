"""Usage roll-ups (usage/rollups.py, usage/summary.py): reports read from the daily roll-ups of closed days
give exactly the sums of the stored per-answer figures, whatever writes come late; the medians of long
periods stay within the histograms' stated precision; the number of queries does not grow with the period.
PostgreSQL only: SQLite keeps no roll-ups (the fallback is covered by tests/test_usage.py)."""

from __future__ import annotations

import asyncio
import random
import statistics
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from canvas.models import Node, NodeStatus
from config.celery import app
from engine.control import cancel_response
from engine.cost import cost_of
from providers.base import Usage
from tests.usage_world import at, canvas_of, model_of, price, run, signed_in, team_of
from usage import aggregate, histogram, rollups, summary
from usage.aggregate import person_runs, runs_in, team_runs
from usage.models import DailyUsage, RolledUp
from usage.periods import Period
from usage.report import build

pytestmark = pytest.mark.django_db

SUMMED = ("runs", "errors", "rate_limited", "input_tokens", "cached_input_tokens", "output_tokens",
          "reasoning_tokens", "cost", "unpriced")  # fmt: skip
MEDIANS = ("ttft_ms_p50", "tokens_per_s_p50")
FOUR_MONTHS = Period(date(2026, 1, 1), date(2026, 4, 30))
AFTER = at("2026-05-01")  # "now" for the builds: January to April are closed


@pytest.fixture
def dave(django_user_model):
    return django_user_model.objects.create_user("dave", password="dave-password-1")


@pytest.fixture
def lab(alice, dave):
    return team_of("Lab", owner=alice, editor=dave)


@pytest.fixture
def elsewhere(dave):
    return team_of("Elsewhere", owner=dave)


@pytest.fixture
def models():
    return {
        "mini": model_of("OpenAI", "gpt-mini"),
        "big": model_of("OpenAI", "gpt-big"),
        "claude": model_of("Anthropic", "claude", kind="anthropic"),
    }


@pytest.fixture
def year(lab, elsewhere, alice, dave, models):
    """Four months of runs, a few a day: billed at the price of their day (gpt-mini's changes on 15
    February), with cache hits and reasoning, some failed or throttled (no tokens, no cost); Claude's in
    March with no cost (no price then); some run in Elsewhere; a canvas that moved from Lab to Elsewhere
    after its runs; imported answers, which never count."""
    rng = random.Random(8)
    old = price(models["mini"], "2025-12-01", "1", "0.1", "4")
    new = price(models["mini"], "2026-02-15", "3", "0.3", "9")
    flat = {name: price(models[name], "2025-12-01", "2", "0.5", "6") for name in ("big", "claude")}
    mine, theirs, moved = canvas_of(lab, alice), canvas_of(elsewhere, dave), canvas_of(lab, dave)
    nodes = []
    for n, day in enumerate(FOUR_MONTHS.days):
        for k in range(rng.randrange(1, 5)):
            name = rng.choice(list(models))
            canvas = (mine, mine, theirs, moved)[(n + k) % 4]
            user = alice if canvas is mine else dave
            when = at(day.isoformat(), rng.randrange(24), rng.randrange(60))
            if rng.random() < 0.1:
                code = rng.choice(["rate_limited", "server"])
                nodes.append(run(canvas, models[name], user, when, status=NodeStatus.ERROR, error_code=code))
                continue
            inputs, output = rng.randrange(10, 40_000), rng.randrange(1, 6_000)
            usage = Usage(
                input_tokens=inputs,
                cached_input_tokens=rng.randrange(0, inputs),
                output_tokens=output,
                reasoning_tokens=rng.randrange(0, output),
            )
            billed = flat.get(name) or (old if day < date(2026, 2, 15) else new)
            if name == "claude" and day.month == 3:
                billed = None
            figures = {field: getattr(usage, field) for field in ("input_tokens", "cached_input_tokens")}
            figures |= {field: getattr(usage, field) for field in ("output_tokens", "reasoning_tokens")}
            nodes.append(
                run(
                    canvas,
                    models[name],
                    user,
                    when,
                    cost=cost_of(usage, billed),
                    ttft_ms=rng.randrange(80, 5000),
                    tokens_per_s=rng.uniform(3, 400),
                    **figures,
                )
            )
        run(mine, models["big"], alice, at(day.isoformat()), billed_to=None, input_tokens=7, cost=Decimal("9"))
    moved.team = elsewhere
    moved.save()
    return nodes


def _billed_to(nodes, team):
    return [node for node in nodes if node.billed_team_id == team.id]


def _assert_same_sums(rolled: list[dict], direct: list[dict], keys):
    def by_group(rows):
        return {tuple(row[key] for key in keys): {name: row[name] for name in SUMMED} for row in rows}

    assert by_group(rolled) == by_group(direct)


SCOPES = {
    "team": lambda world: team_runs(world["lab"], FOUR_MONTHS),
    "person": lambda world: person_runs(world["dave"], FOUR_MONTHS),
    "everyone": lambda world: runs_in(FOUR_MONTHS),
}


@pytest.mark.parametrize("scope", list(SCOPES))
def test_rolled_up_sums_equal_the_sums_of_the_stored_figures_to_the_last_digit(year, lab, dave, scope):
    built = rollups.build(now=AFTER)
    runs = SCOPES[scope]({"lab": lab, "dave": dave})
    measures = (*SUMMED, *MEDIANS)

    assert built.days == len(FOUR_MONTHS.days) and built.months == 4
    assert RolledUp.objects.count() == len(FOUR_MONTHS.days) + 4
    for keys in [(), ("day",), ("model",), ("provider",), ("user",), ("team",), ("day", "model"), ("provider", "day")]:
        rolled = summary.summarise(runs, keys, measures)
        _assert_same_sums(rolled, aggregate.summarise(runs, keys, measures), keys)


def test_the_totals_are_the_stored_figures_of_the_billed_runs_only(year, lab):
    rollups.build(now=AFTER)

    report = build(team_runs(lab, FOUR_MONTHS), FOUR_MONTHS, "model")

    billed = _billed_to(year, lab)
    assert report.total["runs"] == len(billed) == sum(row["runs"] for row in report.rows)
    assert report.total["cost"] == sum(node.cost for node in billed if node.cost is not None)
    for field in ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens"):
        assert report.total[field] == sum(getattr(node, field) or 0 for node in billed)
    assert report.total["errors"] == sum(node.status == NodeStatus.ERROR for node in billed)


# Whole months only; January less its first nine days and April less its last ten (a month's histogram
# less the buckets of its days outside the period); February and March less nothing, January 20 to 31 read.
LONG_PERIODS = [FOUR_MONTHS, Period(date(2026, 1, 10), date(2026, 4, 20)), Period(date(2026, 1, 20), date(2026, 3, 31))]


@pytest.mark.parametrize("period", LONG_PERIODS)
def test_long_periods_give_medians_within_the_histograms_precision_and_exact_ones_per_day(year, lab, dave, period):
    rollups.build(now=AFTER)

    for runs in (team_runs(lab, period), person_runs(dave, period)):
        nodes = list(runs.nodes())
        for keys in [(), ("model",), ("provider",), ("user",), ("team",)]:
            rolled = summary.summarise(runs, keys, MEDIANS)
            exact = {tuple(row[k] for k in keys): row for row in aggregate.summarise(runs, keys, MEDIANS)}
            for row in rolled:
                for name in MEDIANS:
                    wanted = exact[tuple(row[k] for k in keys)][name]
                    assert row[name] == pytest.approx(wanted, rel=histogram.PRECISION), (keys, name)
        [total] = summary.summarise(runs, (), MEDIANS)
        assert total["ttft_ms_p50"] != statistics.median(n.ttft_ms for n in nodes if n.ttft_ms is not None)
        by_day = summary.summarise(runs, ("day",), MEDIANS)
        assert sorted(by_day, key=lambda r: r["day"]) == sorted(
            aggregate.summarise(runs, ("day",), MEDIANS), key=lambda r: r["day"]
        )


def test_a_period_up_to_31_days_keeps_exact_medians(year, lab):
    rollups.build(now=AFTER)
    march = Period(date(2026, 3, 1), date(2026, 3, 31))
    runs = team_runs(lab, march)

    assert summary.summarise(runs, ("model",)) == aggregate.summarise(runs, ("model",))


def test_the_medians_of_buckets_are_read_as_percentile_cont_reads_values():
    values = [1.0, 2.0, 50.0, 51.0, 400.0, 0.0]
    counts = histogram.merged((int(_bucket(v)), 1) for v in values)

    assert histogram.median(counts) == pytest.approx((2.0 + 50.0) / 2, rel=histogram.PRECISION)
    assert histogram.median(histogram.merged([(histogram.ZERO, 3)])) == 0.0
    assert histogram.median({}) is None


def _bucket(value: float) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {histogram.bucket_sql('v')} FROM (SELECT %s::float8 AS v) AS given", [value])
        return cursor.fetchone()[0]


def test_a_run_that_started_before_midnight_is_rolled_up_once_it_ends_after(year, lab, alice, models):
    late = run(canvas_of(lab, alice), models["claude"], alice, at("2026-02-10", 23, 59), status=NodeStatus.STREAMING)

    rollups.build(now=AFTER)
    assert not RolledUp.objects.filter(first_day__lte=date(2026, 2, 10), last_day__gte=date(2026, 2, 10)).exists()

    # It ends on the 11th (the runner's final save, or the sweeper: an UPDATE of the row either way).
    Node.objects.filter(pk=late.pk).update(status=NodeStatus.DONE, input_tokens=11, cost=Decimal("0.0000000007"))
    built = rollups.build(now=AFTER)

    assert built.days == 1 and built.months == 1
    _assert_exact(lab)


def test_a_late_write_to_a_rolled_up_day_unmarks_it_and_the_figures_stay_exact(year, lab, alice, models):
    rollups.build(now=AFTER)
    day = date(2026, 3, 3)
    changed = Node.objects.filter(billed_team=lab, created_at__date=day).first()

    Node.objects.filter(pk=changed.pk).update(cost=changed.cost + Decimal("0.0000000001") if changed.cost else 1)

    assert not RolledUp.objects.filter(first_day__lte=day, last_day__gte=day).exists()
    assert RolledUp.objects.count() == len(FOUR_MONTHS.days) + 4 - 2  # the day and its month
    _assert_exact(lab)
    gone = Node.objects.filter(billed_team=lab, created_at__date=date(2026, 4, 9)).first()
    gone.canvas.delete()  # a canvas deleted: its runs go by cascade, their days unmarked
    assert not RolledUp.objects.filter(first_day=date(2026, 4, 9)).exists()
    _assert_exact(lab)
    rollups.build(now=AFTER)
    _assert_exact(lab)


def test_a_cancelled_run_lets_its_day_be_rolled_up(year, lab, alice, models):
    queued = run(canvas_of(lab, alice), models["mini"], alice, at("2026-04-02", 8), status=NodeStatus.QUEUED)
    rollups.build(now=AFTER)
    assert not RolledUp.objects.filter(first_day=date(2026, 4, 2)).exists()

    assert cancel_response(queued)
    rollups.build(now=AFTER)

    assert RolledUp.objects.filter(first_day=date(2026, 4, 2), last_day=date(2026, 4, 2)).exists()
    _assert_exact(lab)


def test_writes_that_change_no_figure_keep_the_marks(year, lab):
    rollups.build(now=AFTER)
    marks = RolledUp.objects.count()

    Node.objects.filter(billed_team=lab).update(text="edited", x=5, seq=3)

    assert RolledUp.objects.count() == marks


def _assert_exact(team):
    """Every grouping read with the roll-ups has the sums computed from the runs themselves, and the total is
    that of the figures stored on each run."""
    runs = team_runs(team, FOUR_MONTHS)
    for keys in [(), ("day",), ("model",), ("provider",), ("user",)]:
        _assert_same_sums(summary.summarise(runs, keys, SUMMED), aggregate.summarise(runs, keys, SUMMED), keys)
    stored = list(runs.nodes())
    [total] = summary.summarise(runs, (), SUMMED)
    assert total["runs"] == len(stored)
    assert total["cost"] == sum(node.cost for node in stored if node.cost is not None)


def test_the_number_of_queries_does_not_grow_with_the_period(year, lab, alice):
    rollups.build(now=AFTER)
    client = signed_in(alice)

    def queries(since: str, until: str, by: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/teams/{lab.id}/usage/", {"since": since, "until": until, "by": by})
            assert response.status_code == 200
        return len(captured)

    for by in ("day", "model", "user"):
        assert queries("2026-02-01", "2026-03-31", by) == queries("2026-01-01", "2026-04-30", by)


def test_the_command_builds_the_roll_ups_and_rebuilds_them(year, lab, capsys):
    call_command("build_usage_rollups")
    first = RolledUp.objects.count()
    call_command("build_usage_rollups", "--rebuild")

    out = capsys.readouterr().out
    assert first >= len(FOUR_MONTHS.days) and RolledUp.objects.count() == first
    assert "rolled up" in out
    _assert_exact(lab)


def test_the_api_says_how_exact_the_medians_are(alice):
    schema = signed_in(alice).get("/api/openapi.json").json()

    described = str(schema["components"]["schemas"]["UsageFigures"])
    assert "0.5%" in described and "31 days" in described


def test_every_day_of_a_long_period_comes_from_the_roll_ups_but_today(year, lab):
    rollups.build(now=AFTER)
    period = Period(FOUR_MONTHS.since, FOUR_MONTHS.until + timedelta(days=1))

    with CaptureQueriesContext(connection) as captured:
        summary.summarise(team_runs(lab, period), ("model",), SUMMED)

    read_runs = [q["sql"] for q in captured if '"canvas_node"' in q["sql"]]
    assert len(read_runs) == 1
    assert """"created_at" >= '2026-05-01 00:00:00+00:00'""" in read_runs[0]


def test_celery_beat_rolls_up_the_days_that_closed(lab, alice, models, settings):
    run(canvas_of(lab, alice), models["mini"], alice, at("2026-03-03"), cost=Decimal("0.5"))
    app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE["usage-rollups"]
    assert entry["schedule"] == settings.PRISM_USAGE_ROLLUP_S

    app.tasks[entry["task"]]()

    assert RolledUp.objects.filter(first_day=date(2026, 3, 3), last_day=date(2026, 3, 3)).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_embedded_server_rolls_up_while_it_serves(lab, alice, models):
    canvas = await sync_to_async(canvas_of)(lab, alice)
    await sync_to_async(run)(canvas, models["mini"], alice, at("2026-03-03"), cost=Decimal("0.5"))

    rolling = asyncio.ensure_future(rollups.keep_rolled_up(0.05))
    try:
        async with asyncio.timeout(60):
            while not await sync_to_async(RolledUp.objects.filter(first_day=date(2026, 3, 3)).exists)():
                await asyncio.sleep(0.05)
    finally:
        rolling.cancel()
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
def test_the_migration_adding_the_unpriced_count_unmarks_the_days_rolled_up_without_it():
    """Days rolled up before the count existed would read 0 from it: their marks go (so they are read
    from the runs until rebuilt); a month's histograms, which have no such count, stay rolled up."""
    before, after = [("usage", "0002_invalidate_on_write")], [("usage", "0003_daily_unpriced")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        marks = old.get_model("usage", "RolledUp").objects
        marks.create(first_day=date(2026, 3, 2), last_day=date(2026, 3, 2), built_at=timezone.now())
        marks.create(first_day=date(2026, 3, 1), last_day=date(2026, 3, 31), built_at=timezone.now())
        old.get_model("usage", "DailyUsage").objects.create(
            day=date(2026, 3, 2), team_id=uuid.uuid4(), runs=3, errors=0, rate_limited=0, input_tokens=1,
            cached_input_tokens=0, output_tokens=1, reasoning_tokens=0, cost=Decimal(0), hours=1,
        )  # fmt: skip
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(after)

    assert list(RolledUp.objects.values_list("first_day", "last_day")) == [(date(2026, 3, 1), date(2026, 3, 31))]
    assert not DailyUsage.objects.exists()
