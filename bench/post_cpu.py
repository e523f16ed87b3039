"""What one prompt POST costs the web process in CPU, and how many database queries it makes.

A prompt of `--models` simulated models (5 by default: a fan-out) is posted `--posts` times in a row,
one at a time, to `POST /api/canvases/{id}/prompts`, with an API token. Around each POST the benchmark
reads the web process's CPU clock, the sum over its threads of the nanoseconds each has spent on a CPU
(field 1 of /proc/<pid>/task/*/schedstat), so a POST's figure is what answering it cost, to the
nanosecond. Nothing else runs in the web process meanwhile: no WebSocket is open, and in the embedded
mode (where runs stream on the web process's own loop) each POST waits until the last one's runs have
ended. The same clock around `GET /healthz` (no session, no token, no query) gives the floor: what the
server and Django cost for any request at all. And the same POST (token, body) sent to a canvas that does
not exist gives the least a prompt POST costs before any work of its own: the server, Django's
middleware, the API's token check (one query), the body's parsing and validation, the canvas looked up
(one query) and a 404 answered.

Every guarantee stays switched on, only out of the way: the per-user limit on runs going at once is
raised, the team has a monthly budget and the person a budget of their own in it (both large; none with
--no-budgets, a team's usual state, which skips the team's lock and the month's spend), and the models
have prices, so each POST locks the user and the team and sums the month's spend as it always would.
Answers are one token long, so the worker's load is small. A fresh canvas is made every
`--per-canvas` posts (20 by default): each prompt after a canvas's first follows up the previous
prompt's first answer, as a conversation does, and the canvas stays a typical size (100 nodes at most)
rather than growing to thousands.

The queries per POST are counted in a process of their own (a Django shell on the same database and
Redis): the same request, through Django's test client with the same token, under
CaptureQueriesContext. That process then posts `--in-process` more (300 by default) without the query
log and times each on its own thread: the POST without the server, a steadier figure for comparing two
commits (run both commits' benches at once, from two worktrees: this machine's speed drifts by a fifth
over minutes, and at once both see the same drift).

    .venv/bin/python bench/post_cpu.py [--posts 1000] [--models 5] [--mode services|embedded]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench import procs
from tests import stack
from tests.stack import LiveStack, live_stack

TERMINAL = ("done", "error", "cancelled", "interrupted")

_PREPARE = """
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import ApiToken
from canvas.models import Membership
from providers.models import Model, Price, ProviderAccount

user = get_user_model().objects.create_user(username="bench-poster")
membership = Membership.objects.select_related("team").get(user=user, team__personal=True)
if {budgets}:
    # Budgets far above what the bench spends: checked on every POST, never refusing one.
    membership.team.monthly_budget_usd = Decimal("1000000")
    membership.team.save(update_fields=["monthly_budget_usd"])
    membership.monthly_budget_usd = Decimal("1000000")
    membership.save(update_fields=["monthly_budget_usd"])
ids = []
for index in range({models}):
    # One account per model, as a fan-out asks several providers; slots enough that no run waits.
    account, _ = ProviderAccount.objects.update_or_create(
        name=f"Bench provider {{index}}",
        defaults={{"kind": "openai_compatible", "base_url": {url!r}, "max_concurrency": 100_000}},
    )
    model, _ = Model.objects.update_or_create(
        account=account, name="sim-swift",
        defaults={{"display_name": f"Bench model {{index}}", "default_params": {params}}},
    )
    Price.objects.create(
        model=model, input=Decimal("1"), cached_input=Decimal("0.5"), output=Decimal("2"),
        effective_from=timezone.now(),
    )
    ids.append(str(model.id))
emit({{"token": ApiToken.issue(user, name="bench")[1], "models": ids}})
"""

# The same POST in a process of its own, under CaptureQueriesContext: how many queries, and which; and
# for each query, the CPU this thread spent building it (since the query before ended: Django's ORM,
# with whatever Python ran between) and executing it (the driver, its wait on the socket excluded).
_COUNT_QUERIES = """
import time
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

client = Client(HTTP_AUTHORIZATION="Bearer " + {token!r}, HTTP_HOST="127.0.0.1")


def fresh_canvas(title):
    return client.post("/api/canvases", {{"title": title}}, content_type="application/json").json()["id"]


# One prompt following up `parent` (none: a fresh one): when it began and ended on this thread's CPU
# clock, and its first answer's id.
def prompt(canvas, parent, text):
    body = {{"text": text, "models": {models}, "parents": [parent] if parent else []}}
    began = time.thread_time_ns()
    response = client.post(f"/api/canvases/{{canvas}}/prompts", body, content_type="application/json")
    ended = time.thread_time_ns()
    assert response.status_code == 202, response.content
    return began, ended, response.json()["responses"][0]["id"]


canvas, counts, parent, last, clock = fresh_canvas("bench queries"), [], None, [], []

def timed(execute, sql, params, many, context):
    started = time.thread_time_ns()
    try:
        return execute(sql, params, many, context)
    finally:
        clock.append((sql[:60], started, time.thread_time_ns()))

for index in range({posts}):
    clock.clear()
    with CaptureQueriesContext(connection) as queries, connection.execute_wrapper(timed):
        began, ended, parent = prompt(canvas, parent, f"Count the queries, post {{index}}")
    counts.append(len(queries))
    last = [q["sql"] for q in queries.captured_queries]
    edges = [began] + [end for _, _, end in clock]
    split = [(sql, start - before, end - start) for (sql, start, end), before in zip(clock, edges)]
total, after = ended - began, ended - edges[-1]
# Then the same posts without the query log: this thread's CPU for each, whole (the test client included).
cpu = []
for index in range({in_process}):
    if index % 20 == 0:
        canvas, parent = fresh_canvas("in-process"), None
    began, ended, parent = prompt(canvas, parent, f"In-process post {{index}}")
    cpu.append(ended - began)
emit({{"counts": counts, "last": last, "split": split, "total": total, "after": after, "cpu": cpu}})
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("services", "embedded"), default="services")
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--models", type=int, default=5, help="models per prompt (the fan-out)")
    parser.add_argument(
        "--budgets",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="give the team a monthly budget and the person one of their own (default: yes)",
    )
    parser.add_argument("--per-canvas", type=int, default=20, help="posts per canvas before a fresh one")
    parser.add_argument("--floor-requests", type=int, default=300, help="GET /healthz requests for the floor")
    parser.add_argument(
        "--in-process", type=int, default=300, help="posts through Django's test client, timed on their thread"
    )
    parser.add_argument("--show-queries", action="store_true", help="print the SQL of one POST")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs and print where")
    return parser.parse_args(argv)


def cpu_ns(pid: int) -> int:
    """Nanoseconds the process's threads have spent on a CPU so far (schedstat's first field)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended between the listing and the read
    return total


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(f"Prism prompt POST CPU: mode {args.mode}, {os.cpu_count()} CPUs, {args.posts} posts of {args.models} models")
    print(f"A fresh canvas every {args.per_canvas} posts; each later post follows up the previous one's first answer")
    print(f"Budgets (the team's and the person's own): {'yes' if args.budgets else 'none'}")
    # Raised out of the way, still counted on every POST.
    os.environ["PRISM_MAX_RUNS_PER_USER"] = str(1_000_000)
    keep = args.keep_logs
    tmp = tempfile.mkdtemp(prefix="prism-bench-") if keep else None
    with tempfile.TemporaryDirectory(prefix="prism-bench-") as scratch:
        folder = Path(tmp or scratch)
        if keep:
            print(f"Logs are kept in {folder}")
        options = {"ttft_ms": 0, "tokens_per_s": 1000, "length": 1}
        with procs.simulator_process(folder / "simulator.log") as (simulator_url, _):
            with live_stack(args.mode, folder) as live:
                print("Processes: " + ", ".join(f"{name} pid {pid}" for name, pid in live.pids.items()), flush=True)
                params = json.dumps({"simulator": options})
                script = _PREPARE.format(models=args.models, url=simulator_url, params=params, budgets=args.budgets)
                setup = stack.django_shell(live.env, script, timeout=300)
                Bench(args, live, setup["token"], setup["models"]).run()


class Bench:
    def __init__(self, args, live: LiveStack, token: str, models: list[str]):
        self.args = args
        self.live = live
        self.token = token
        self.models = models
        self.pid = live.pids["web"]
        self.client = httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60.0)

    def run(self) -> None:
        self.posts(min(50, self.args.posts), warm_up=True)  # imports, connections, caches
        floor = self.floor()
        refused = self.refused()
        cpu, wall = self.posts(self.args.posts)
        counts = self.count_queries() if self.args.mode == "services" else None
        print()
        print(f"Per POST, {self.args.models}-model fan-out ({self.args.mode}, {len(cpu)} posts)")
        print(f"  CPU in the web process, ms: median {_ms(statistics.median(cpu))}  p90 {_ms(_pct(cpu, 90))}  "
              f"mean {_ms(statistics.fmean(cpu))}")  # fmt: skip
        print(f"  wall (client), ms:          median {_ms(statistics.median(wall))}  p90 {_ms(_pct(wall, 90))}")
        print(f"  floor, GET /healthz CPU ms: median {_ms(statistics.median(floor))}  p90 {_ms(_pct(floor, 90))}")
        print(f"  POST over the floor, ms:    {_ms(statistics.median(cpu) - statistics.median(floor))}")
        print(f"  the POST refused (unknown canvas, 404), CPU ms: median {_ms(statistics.median(refused))}  "
              f"p90 {_ms(_pct(refused, 90))}")  # fmt: skip
        if counts is not None:
            print(f"  database queries per POST: {statistics.median(counts['counts']):g} (median of "
                  f"{len(counts['counts'])}, min {min(counts['counts'])}, max {max(counts['counts'])})")  # fmt: skip
            print("  CPU per query of the last POST, in-process (test client), ms: building + executing")
            for sql, building, executing in counts["split"]:
                print(f"    {building / 1e6:5.2f} + {executing / 1e6:4.2f}  {sql}")
            print(f"    {counts['after'] / 1e6:5.2f} after the last query; {counts['total'] / 1e6:.2f} in all")
            if counts["cpu"]:
                cpu_in = counts["cpu"]
                print(f"  in-process, {len(cpu_in)} posts (test client, no server): CPU ms median "
                      f"{_ms(statistics.median(cpu_in))}  p90 {_ms(_pct(cpu_in, 90))}")  # fmt: skip
            if self.args.show_queries:
                for sql in counts["last"]:
                    print(f"    {sql[:300]}")
        self.client.close()

    def posts(self, count: int, warm_up: bool = False) -> tuple[list[int], list[float]]:
        cpu, wall = [], []
        canvas, parent = None, None
        for index in range(count):
            if index % self.args.per_canvas == 0:
                title = f"bench posts {index // self.args.per_canvas}"
                canvas = self.client.post("/api/canvases", json={"title": title}).raise_for_status().json()["id"]
                parent = None
            parents = [parent] if parent else []
            body = {"text": f"Post {index}: say one word.", "models": self.models, "parents": parents}
            before, started = cpu_ns(self.pid), time.perf_counter()
            response = self.client.post(f"/api/canvases/{canvas}/prompts", json=body)
            wall_s, after = time.perf_counter() - started, cpu_ns(self.pid)
            if response.status_code != 202:
                raise RuntimeError(f"POST {index} answered {response.status_code}: {response.text[:500]}")
            answered = response.json()
            parent = answered["responses"][0]["id"]
            cpu.append(after - before)
            wall.append(wall_s * 1e9)
            if self.args.mode == "embedded":
                self.wait_for_runs(canvas)  # they ran on the web process: let them end before the next POST
        if warm_up:
            self.wait_for_runs(canvas)
        return cpu, wall

    def wait_for_runs(self, canvas: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            nodes = self.client.get(f"/api/canvases/{canvas}").raise_for_status().json()["nodes"]
            if all(n["status"] in TERMINAL for n in nodes if n["kind"] == "response"):
                time.sleep(0.01)  # the runs' last events and bookkeeping
                return
            time.sleep(0.005)
        raise RuntimeError("The runs did not end within 60 s")

    def floor(self) -> list[int]:
        with httpx.Client(base_url=self.live.base_url, timeout=60.0) as bare:
            bare.get("/healthz").raise_for_status()
            return self.cpu_of(lambda: bare.get("/healthz"), 200)

    def refused(self) -> list[int]:
        body = {"text": "Say one word.", "models": self.models, "parents": []}
        return self.cpu_of(lambda: self.client.post(f"/api/canvases/{uuid.uuid4()}/prompts", json=body), 404)

    def cpu_of(self, request, status: int) -> list[int]:
        """The web process's CPU for each of `--floor-requests` requests made by `request()`, each of which
        must answer `status`."""
        samples = []
        for _ in range(self.args.floor_requests):
            before = cpu_ns(self.pid)
            response = request()
            samples.append(cpu_ns(self.pid) - before)
            if response.status_code != status:
                raise RuntimeError(f"{response.request.url} answered {response.status_code}: {response.text[:500]}")
        return samples

    def count_queries(self) -> dict:
        script = _COUNT_QUERIES.format(
            token=self.token, posts=20, models=json.dumps(self.models), in_process=self.args.in_process
        )
        return stack.django_shell(self.live.env, script, timeout=300)


def _pct(values: list, pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def _ms(ns: float) -> str:
    return f"{ns / 1e6:.2f}"


if __name__ == "__main__":
    main()
