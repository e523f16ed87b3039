"""The leaderboard of a team with 100,000 votes over 20 models: time and SQL queries, cold and warm.

Creates a throwaway PostgreSQL database (tests/stack.py's way; dropped at the end), migrates it and
seeds one team straight through the ORM: prompts each answered by four of the models, four people's
votes per prompt drawn from a Bradley–Terry model of known strengths (ties and "both bad" included),
and a judge model's vote on one pair in twenty. Then, through django.test.Client in this process:

- cold: GET /api/teams/{id}/leaderboard with the cache emptied first (SQL aggregation, the fit and
  200 bootstrap fits, medians, agreement, estimates), for each filter shown;
- warm: the same request again (the cached result);
- the page, /teams/{id}/leaderboard/, cold and warm.

Each time is the median of --repeat requests, beside their mean CPU time (this process's and its
PostgreSQL backend's: on a loaded machine, the part of the time that is the request's own work), with
the SQL queries of one. The cache is Django's default (process memory) unless REDIS_URL is set.

    .venv/bin/python bench/leaderboard.py [--votes 100000] [--models 20] [--repeat 5]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.stack import _postgres_database

PER_PROMPT = 4  # answers per prompt, and people's votes per prompt (of its six pairs)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--votes", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5, help="requests per figure (the median is shown)")
    return parser.parse_args(argv)


def seed(votes: int, model_count: int):
    """The team, its owner, and `votes` people's votes (plus judge votes) on its canvases."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from canvas.models import Canvas, Edge, Node, NodeKind, NodeStatus, Vote
    from providers.models import Model
    from tests.vote_factory import model

    rng = random.Random(13)
    owner = get_user_model().objects.create_user("bench-owner")
    people = [owner] + [get_user_model().objects.create_user(f"bench-{i}") for i in range(9)]
    team = owner.teams.get(personal=True)
    team.memberships.bulk_create([team.memberships.model(team=team, user=u, role="editor") for u in people[1:]])
    models = [
        model(f"bench-model-{i}", "vllm" if i % 7 == 0 else "openai", price=("1", "0.1", str(2 + i)))
        for i in range(model_count)
    ]
    judge = model("bench-judge", "openai")
    strength = {m.id: rng.gauss(0, 1) for m in models}
    canvases = [
        Canvas.objects.create(team=team, title=f"Bench {i}", created_by=owner, tags=["coding"] if i % 4 == 0 else [])
        for i in range(20)
    ]
    start = timezone.now() - timedelta(days=180)
    prompts = math.ceil(votes / PER_PROMPT)
    made = 0
    for first in range(0, prompts, 2000):
        nodes, edges, batch = [], [], []
        for p in range(first, min(prompts, first + 2000)):
            canvas = canvases[p % len(canvases)]
            when = start + timedelta(seconds=p * 150)
            prompt = Node(canvas=canvas, kind=NodeKind.PROMPT, text=f"Prompt {p}", created_by=owner, created_at=when)
            answers = [
                Node(canvas=canvas, kind=NodeKind.RESPONSE, model=m, status=NodeStatus.DONE, text=f"Answer {p}",
                     created_by=owner, created_at=when, ttft_ms=rng.randint(100, 2000), cost=rng.randint(1, 900) / 1e5,
                     tokens_per_s=rng.uniform(20, 120), input_tokens=800, cached_input_tokens=300, output_tokens=400)
                for m in rng.sample(models, PER_PROMPT)
            ]  # fmt: skip
            nodes += [prompt, *answers]
            edges += [Edge(parent=prompt, child=a) for a in answers]
            pairs = [(x, y) for i, x in enumerate(answers) for y in answers[i + 1 :]]
            for number, (x, y) in enumerate(rng.sample(pairs, PER_PROMPT)):
                if made >= votes:
                    break
                x, y = sorted((x, y), key=lambda n: str(n.id))
                p_x = 1 / (1 + math.exp(strength[y.model_id] - strength[x.model_id]))
                roll = rng.random()
                outcome = "tie" if roll < 0.07 else "both_bad" if roll < 0.1 else "a" if rng.random() < p_x else "b"
                common = {"canvas": canvas, "prompt": prompt, "a": x, "b": y, "model_a": x.model, "model_b": y.model,
                          "created_at": when + timedelta(seconds=60)}  # fmt: skip
                batch.append(Vote(**common, outcome=outcome, user=people[(p + number) % len(people)]))
                made += 1
                if p % 20 == 0 and number == 0:
                    batch.append(Vote(**common, outcome=outcome if rng.random() < 0.8 else "a", judge_model=judge))
        Node.objects.bulk_create(nodes, batch_size=5000)
        Edge.objects.bulk_create(edges, batch_size=5000)
        Vote.objects.bulk_create(batch, batch_size=5000)
    return owner, team, Model.objects.filter(pk__in=[m.id for m in models]).count()


def backend_cpu_s() -> float | None:
    """CPU seconds this process's PostgreSQL backend has used, when it runs on this machine (/proc)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def timed(call) -> tuple[float, float | None]:
    """Wall ms of one call, and its CPU ms: this process's and its PostgreSQL backend's (None when that
    cannot be read). On a loaded machine the CPU says more than the wall time, which waits for a core;
    the backend's CPU is counted in clock ticks (10 ms), so it is exact only summed over many calls."""
    backend = backend_cpu_s()
    began, began_cpu = time.perf_counter(), time.process_time()
    call()
    wall, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    after = backend_cpu_s()
    return wall * 1000, None if backend is None or after is None else (cpu + after - backend) * 1000


def measure(client, url: str, repeat: int, cold: bool) -> tuple[float, int, float | None]:
    """The median wall ms of `repeat` requests, the SQL queries of one, and their mean CPU ms."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    queries = []

    def get():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        queries.append(len(captured.captured_queries))

    client.get(url)  # anything the first request of a process pays once (imports, templates)
    times, cpus = [], []
    for _ in range(repeat):
        if cold:
            cache.clear()
        wall, cpu = timed(get)
        times.append(wall)
        cpus.append(cpu)
    return statistics.median(times), queries[-1], None if None in cpus else statistics.mean(cpus)


def breakdown(team, repeat: int) -> None:
    """Where a cold request's time goes (people's votes, no filter): median ms and mean CPU ms of each part."""
    from django.db.models import F

    from evaluation import board
    from evaluation.costs import priced_models
    from evaluation.ratings import PairCounts, bradley_terry
    from evaluation.scope import Scope

    scope = Scope()
    votes = scope.votes(team).exclude(model_a=F("model_b"))
    rows = []

    def counts():
        rows[:] = list(votes.order_by().values_list("model_a", "model_b", "outcome").annotate(n=board.Count("pk")))

    parts = {
        "SQL: votes per (model a, model b, outcome)": counts,
        "SQL: answers' medians and token sums": lambda: board.answer_figures(board.voted_answers(votes)),
        "SQL: judge-people agreement": lambda: board.agreement(team, scope),
        "SQL: models and prices": lambda: list(priced_models()),
        "Bradley-Terry fit + 200 bootstrap fits": lambda: bradley_terry(PairCounts.from_rows(board._pair_rows(rows))),
    }
    print(f"{'part of a cold request':48} {'ms':>7} {'cpu ms':>7}")
    for name, part in parts.items():
        times, cpus = zip(*(timed(part) for _ in range(repeat)), strict=True)
        print(f"{name:48} {statistics.median(times):7.0f} {_ms(None if None in cpus else statistics.mean(cpus)):>7}")


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with contextlib.ExitStack() as cleanup:
        os.environ["DATABASE_URL"] = cleanup.enter_context(_postgres_database())
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connections
        from django.test import Client

        cleanup.callback(connections.close_all)
        call_command("migrate", verbosity=0)
        began = time.perf_counter()
        owner, team, models = seed(args.votes, args.models)
        from canvas.models import Vote

        total = Vote.objects.filter(canvas__team=team).count()
        print(f"Seeded {total:,} votes ({args.votes:,} people's) over {models} models in "
              f"{time.perf_counter() - began:.0f} s; cache: {settings.CACHES['default']['BACKEND']}")  # fmt: skip
        call_command("shell", "-c", "from django.db import connection; connection.cursor().execute('ANALYZE')")
        client = Client(HTTP_HOST="localhost")  # a host ALLOWED_HOSTS has by default
        client.force_login(owner)
        api = f"/api/teams/{team.id}/leaderboard"
        since = (django.utils.timezone.now() - timedelta(days=89)).date()
        rows = [
            ("API, people (default)", api),
            ("API, everyone", f"{api}?judge=all"),
            ("API, tag coding, last 90 days", f"{api}?tag=coding&since={since}"),
            ("page", f"/teams/{team.id}/leaderboard/"),
        ]  # fmt: skip
        breakdown(team, args.repeat)
        heads = ("cold ms", "cpu ms", "queries", "warm ms", "cpu ms", "queries")
        print(f"\n{'request':34} {heads[0]:>8} {heads[1]:>7} {heads[2]:>7} {heads[3]:>8} {heads[4]:>7} {heads[5]:>7}")
        for name, url in rows:
            cold = measure(client, url, args.repeat, cold=True)
            warm = measure(client, url, args.repeat, cold=False)
            cold_cpu, warm_cpu = _ms(cold[2]), _ms(warm[2])
            print(f"{name:34} {cold[0]:8.0f} {cold_cpu:>7} {cold[1]:7d} {warm[0]:8.1f} {warm_cpu:>7} {warm[1]:7d}")


if __name__ == "__main__":
    main()
