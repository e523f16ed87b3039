"""How fast a team's usage answers at 1,000,000 answers over a year.

Creates a throwaway PostgreSQL database, migrates it, and seeds one team with N answers (1,000,000 by
default) spread over the past 365 days — ten people, six models on four provider accounts (one a
self-hosted vLLM with a GPU price), about 2% failures and 0.5% rate-limited, every figure filled in,
each answer with a few hundred characters of text — plus a second team with a tenth as many, all in a
few INSERT … SELECT generate_series statements. Then it times, over the whole year and over the last
30 days:

- the report of each grouping (usage.report.build: the GROUP BY, the total and the names), as the API
  runs it;
- the usage page (GET /teams/{id}/usage/ through django.test.Client: report, charts, self-hosted
  economics), as a member and as staff (with provider health);
- month_spend (what a budget check reads).

Before timing, it rolls the closed days up as production does (usage/rollups.py, the build timed too);
with --before, it first times everything without the roll-ups, every figure read from the runs.

Each figure is the median of --repeat runs after one warm-up run. The database is dropped at the end.

    .venv/bin/python bench/usage.py [--answers 1000000] [--repeat 5] [--keep] [--before]

It needs the machine's PostgreSQL (PRISM_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

SERVER = os.environ.get("PRISM_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=1_000_000, help="answers of the measured team")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per figure (the median is shown)")
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    parser.add_argument(
        "--before", action="store_true", help="measure without the roll-ups first (every figure from the runs)"
    )
    return parser.parse_args(argv)


def setup_django(database: str) -> None:
    os.environ["DATABASE_URL"] = f"{SERVER}/{database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def seed(answers: int) -> dict:
    """People, teams, models and prices through the ORM; the answers in bulk SQL. Returns the ids."""
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from canvas.models import Canvas, Membership, Node, Role, Team
    from providers.models import Model, Price, ProviderAccount

    User = get_user_model()
    people = [User.objects.create_user(f"person{n}") for n in range(10)]
    staff = User.objects.create_user("staff", is_staff=True)
    team, other = Team.objects.create(name="Measured"), Team.objects.create(name="Other")
    for n, person in enumerate(people):
        Membership.objects.create(team=team, user=person, role=Role.OWNER if n == 0 else Role.EDITOR)
        Membership.objects.create(team=other, user=person, role=Role.EDITOR)
    Membership.objects.create(team=team, user=staff, role=Role.VIEWER)
    accounts = [
        ProviderAccount.objects.create(name="OpenAI", kind="openai"),
        ProviderAccount.objects.create(name="Anthropic", kind="anthropic"),
        ProviderAccount.objects.create(name="DeepSeek", kind="deepseek"),
        ProviderAccount.objects.create(
            name="vLLM",
            kind="vllm",
            base_url="http://gpu:8000/v1",
            gpu_hourly_cost=Decimal("2.5"),
            gpu_tokens_per_s=900.0,
        ),
    ]
    names = [(0, "gpt-big"), (0, "gpt-mini"), (1, "claude"), (2, "deepseek-chat"), (2, "deepseek-reasoner"), (3, "r1")]
    models = [Model.objects.create(account=accounts[a], name=name, display_name=name) for a, name in names]
    a_year_ago = timezone.now() - timezone.timedelta(days=366)
    for model in models:
        Price.objects.create(
            model=model, input="0.5", cached_input="0.05", output="2", effective_from=a_year_ago, source="bench"
        )
    canvases = {t: Canvas.objects.create(team=t, title=f"{t.name} canvas", created_by=people[0]) for t in (team, other)}
    table = Node._meta.db_table
    with connection.cursor() as cursor:
        for t, count in ((team, answers), (other, answers // 10)):
            started = time.perf_counter()
            cursor.execute(_INSERT.format(table=table), _insert_params(canvases[t], t, models, people, count))
            print(f"seeded {count:,} answers for {t.name} in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        cursor.execute(f"VACUUM ANALYZE {table}")
        print(f"VACUUM ANALYZE in {time.perf_counter() - started:.1f} s")
    return {"team": team, "owner": people[0], "member": people[1], "staff": staff}


# Each answer: a model, a person and a moment drawn from its row number; figures from random().
_INSERT = """
INSERT INTO {table} (
    id, canvas_id, kind, x, y, w, h, text, created_by_id, created_at, blind, label, billed_team_id, model_id,
    params, status, finish_reason, reasoning, seq, error_code, error_message, ttft_ms, duration_ms, tokens_per_s,
    input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, usage_estimated, cost, attempts
)
SELECT
    gen_random_uuid(), %(canvas)s, 'response', 0, 0, 320, 200, repeat(md5(n::text), 12), (%(people)s)[1 + n %% 10],
    now() - (random() * interval '365 days'), false, '', %(team)s, (%(models)s)[1 + n %% 6], '{{}}',
    CASE WHEN err THEN 'error' ELSE 'done' END, CASE WHEN err THEN '' ELSE 'stop' END, '', 40, code,
    CASE WHEN err THEN 'failed' ELSE '' END,
    CASE WHEN err THEN NULL ELSE 100 + (random() * 3000)::int END,
    CASE WHEN err THEN NULL ELSE 500 + (random() * 30000)::int END,
    CASE WHEN err THEN NULL ELSE 5 + random() * 200 END,
    inp, (inp * random() * 0.8)::int, outp, (outp * random() * 0.5)::int, false,
    CASE WHEN err THEN NULL ELSE round((inp * 0.5 + outp * 2.0)::numeric / 1000000, 10) END, 1
FROM (
    SELECT n, r < 0.02 AS err, CASE WHEN r < 0.005 THEN 'rate_limited' WHEN r < 0.02 THEN 'server' ELSE '' END AS code,
           CASE WHEN r < 0.02 THEN NULL ELSE 50 + (random() * 20000)::int END AS inp,
           CASE WHEN r < 0.02 THEN NULL ELSE 1 + (random() * 4000)::int END AS outp
    FROM (SELECT n, random() AS r FROM generate_series(1, %(count)s) AS n) AS drawn
) AS answers
"""


def _insert_params(canvas, team, models, people, count: int) -> dict:
    return {
        "canvas": canvas.id,
        "team": team.id,
        "models": [m.id for m in models],
        "people": [p.id for p in people],
        "count": count,
    }


def roll_up() -> None:
    """What production does after an upgrade (manage.py build_usage_rollups) and Celery beat every
    PRISM_USAGE_ROLLUP_S: roll up every closed day and month."""
    from usage import rollups

    started = time.perf_counter()
    built = rollups.build()
    print(f"\nrolled up {built.days} days and {built.months} months in {time.perf_counter() - started:.1f} s")
    # Written once and never updated: autovacuum soon marks them all-visible, which lets PostgreSQL read
    # them from their indexes alone; done here at once, as for the runs after seeding.
    from django.db import connection

    from usage.models import DailyUsage, DayMedian, MonthlyHistogram

    with connection.cursor() as cursor:
        for model in (DailyUsage, DayMedian, MonthlyHistogram):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def timed(label: str, action, repeat: int) -> float:
    action()  # warm-up: the first run reads from disk
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    median = statistics.median(times)
    print(f"  {label:<44} {median:8.0f} ms   (min {min(times):.0f}, max {max(times):.0f})")
    return median


def measure(world: dict, repeat: int) -> None:
    from django.conf import settings
    from django.test import Client

    from engine.limits import month_spend
    from usage.aggregate import team_runs
    from usage.periods import parse_period, today
    from usage.report import build

    team = world["team"]
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    clients = {}
    for who in ("member", "staff"):
        clients[who] = Client()
        clients[who].force_login(world[who])
    for days, name in ((365, "the whole year"), (30, "the last 30 days")):
        until = today()
        period = parse_period((until - timedelta(days=days - 1)).isoformat(), until.isoformat())
        runs = team_runs(team, period)
        print(f"\n{runs.nodes().count():,} answers in {name} ({period.since} to {period.until}):")
        for by in ("day", "model", "provider", "user"):
            timed(f"report by {by}", lambda by=by, runs=runs, period=period: build(runs, period, by), repeat)
        query = {"since": period.since.isoformat(), "until": period.until.isoformat()}
        for who in ("member", "staff"):
            url = f"/teams/{team.id}/usage/"

            def page(who=who, url=url, query=query):
                response = clients[who].get(url, query)
                assert response.status_code == 200, response.status_code

            timed(f"usage page as {who}", page, repeat)
    print()
    # The month's spend as every prompt's budget check reads it (engine.limits: one statement).
    timed("month_spend(team)", lambda: month_spend(team), repeat)
    timed("month_spend(team, person)", lambda: month_spend(team, world["member"]), repeat)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    database = f"prism_bench_usage_{secrets.token_hex(4)}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    print(f"database {database}")
    try:
        setup_django(database)
        world = seed(args.answers)
        if args.before:
            print("\nwithout roll-ups (every figure read from the runs):")
            measure(world, args.repeat)
        roll_up()
        measure(world, args.repeat)
    finally:
        from django.db import connections

        for connection in connections.all():
            connection.close()
            if getattr(connection, "pool", None) is not None:
                connection.close_pool()
        if not args.keep:
            with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
