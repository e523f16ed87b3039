"""The engine at scale: Prism against the same streams read straight from the simulator.

One command prints four sets of figures (services mode: uvicorn + a Celery worker, PostgreSQL, Redis):

1. ttft: time to first token and the gap between tokens (p50, p99) at 1, 100 and 500 streams in
   flight at once, 20 tokens/s each, on canvases of 5 models (one prompt per canvas fans out to its
   5 models), prompts arriving as a Poisson process over --ramp-s seconds; the direct baseline has
   the same arrivals. Failed streams and lost tokens (stored text against the simulator's
   deterministic text) are counted.
2. fanout: one prompt to 8 models of different speeds, POST to the last node.done, against the
   slowest model alone through Prism and read directly.
3. cpu: CPU seconds per 1,000 tokens relayed (during the ttft rounds) of the web process, the worker, the
   PostgreSQL backends of their database and Redis, and all four together. Issue 17's streams (100 ms to
   the first token, 50 tokens/s, 200 tokens):
       .venv/bin/python bench/scale.py --only cpu --tokens-per-s 50 --ttft-ms 100 --ramp-s 0
4. memory: the worker's RSS after 100 and after 10,000 finished streams (a fresh stack).

    .venv/bin/python bench/scale.py [--only ttft,fanout,cpu,memory] [--ramp-s 5] [--burst]

See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench import clients, procs
from bench.figures import BREAKDOWN_HEADER, breakdown_cells, percentile, table
from bench.relay import _work_dir
from providers.simulator.plan import _seed
from providers.simulator.text import count_tokens, tokens_for
from tests import stack
from tests.stack import LiveStack, live_stack

PHASES = ("ttft", "fanout", "cpu", "memory")
MODELS_PER_CANVAS = 5
# The simulator serves three model names; an account holds each name once, so more models take more
# accounts (all on the one simulator process). sim-reasoner is asked for no reasoning.
SIM_NAMES = ("sim-swift", "sim-steady", "sim-reasoner")
# Issue 17: no gap between tokens longer than this that the provider did not make.
LONG_GAP_MS = 60


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", type=_phases, default=list(PHASES), help="comma-separated: ttft,fanout,cpu,memory")
    parser.add_argument("--streams", type=_counts, default=[1, 100, 500], help="streams in flight (default 1,100,500)")
    parser.add_argument("--ramp-s", type=float, default=5.0, help="prompts arrive over this many seconds (0: a burst)")
    parser.add_argument("--burst", action="store_true", help="also run every round with --ramp-s 0")
    parser.add_argument("--tokens-per-s", type=float, default=20.0)
    parser.add_argument("--ttft-ms", type=int, default=200)
    parser.add_argument("--length", type=int, default=200, help="tokens per answer in the ttft rounds")
    parser.add_argument("--fanout-length", type=int, default=40, help="tokens per answer in the fan-out")
    parser.add_argument("--fanout-repeat", type=int, default=2)
    parser.add_argument("--memory-streams", type=int, default=10_000)
    parser.add_argument(
        "--memory-wave", type=int, default=100, help="streams posted at once in the memory phase (the first wave too)"
    )
    parser.add_argument("--memory-max-s", type=float, default=240.0, help="stop the memory phase's waves after this")
    parser.add_argument("--worker-concurrency", type=int, default=600, help="Celery worker threads")
    parser.add_argument("--db-pool", type=int, default=20, help="PRISM_DB_POOL_SIZE for web and worker each")
    parser.add_argument("--show-problems", type=int, default=5)
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    if "cpu" in args.only and "ttft" not in args.only:
        args.streams = [n for n in args.streams if n == 100] or [100]  # cpu alone: one 100-stream round
    return args


def _phases(text: str) -> list[str]:
    phases = [part.strip() for part in text.split(",") if part.strip()]
    unknown = set(phases) - set(PHASES)
    if unknown or not phases:
        raise argparse.ArgumentTypeError(f"choose from {','.join(PHASES)}")
    return phases


def _counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("give positive stream counts, e.g. 1,100,500")
    return counts


def say(text: str = "") -> None:
    print(text, flush=True)


# --- set-up: models and users -----------------------------------------------------------------------


@dataclass(frozen=True)
class SimModel:
    id: str  # Prism's model id
    name: str  # the simulator's model name
    options: dict  # the body's "simulator" object (the Model's default_params)

    def expected(self, prompt: str) -> str:
        """The simulator's deterministic answer to this prompt (Prism sends it as the one user message)."""
        seed = _seed(self.name, [{"role": "user", "content": prompt}], None)
        return "".join(tokens_for(seed, self.options["length"]))


@dataclass(frozen=True)
class Setup:
    models: dict[str, list[SimModel]]
    tokens: list[str]  # one API token per user; a canvas per user


_PREPARE = """
import json
from django.contrib.auth import get_user_model
from accounts.models import ApiToken
from providers.models import Model, ProviderAccount

models = []
for group, index, account_name, name, params in json.loads({specs!r}):
    account, _ = ProviderAccount.objects.update_or_create(
        name=account_name, defaults={{"kind": "openai_compatible", "base_url": {url!r}, "max_concurrency": 100_000}}
    )
    model, _ = Model.objects.update_or_create(
        account=account, name=name,
        defaults={{"display_name": f"{{account_name}} {{name}}", "default_params": params, "reasoning": False}},
    )
    models.append([group, index, str(model.pk)])
tokens = [
    ApiToken.issue(get_user_model().objects.create_user(username=f"scale-{{index}}"), name="bench")[1]
    for index in range({users})
]
emit({{"models": models, "tokens": tokens}})
"""


def prepare(live: LiveStack, simulator_url: str, groups: dict[str, list[dict]], users: int) -> Setup:
    """One openai_compatible account per three models of a group, all on the simulator process."""
    specs = []
    for group, options_list in groups.items():
        for index, options in enumerate(options_list):
            account = f"Bench scale {group} {index // len(SIM_NAMES)}"
            specs.append([group, index, account, SIM_NAMES[index % len(SIM_NAMES)], {"simulator": options}])
    script = _PREPARE.format(specs=json.dumps(specs), url=simulator_url, users=users)
    prepared = stack.django_shell(live.env, script, timeout=300)
    ids = {(group, index): pk for group, index, pk in prepared["models"]}
    models = {
        group: [SimModel(ids[(group, i)], SIM_NAMES[i % len(SIM_NAMES)], o) for i, o in enumerate(options_list)]
        for group, options_list in groups.items()
    }
    return Setup(models, prepared["tokens"])


# --- Prism: one socket per canvas, reading all its nodes --------------------------------------------


class Watch:
    """One canvas's WebSocket, read for the whole phase: every response node's deltas and its end."""

    def __init__(self, seat: clients.Seat):
        self.seat = seat
        self.streams: dict[str, clients.Stream] = {}
        self.models: dict[str, SimModel] = {}  # node id → the model it answers with
        self.finished: set[str] = set()
        self.expected: set[str] | None = set()  # None while a prompt is being posted
        self.done = asyncio.Event()
        self.done.set()
        self.failed_posts: list[str] = []
        self.reader = asyncio.ensure_future(self._read())

    def stream(self, node_id: str) -> clients.Stream:
        stream = self.streams.get(node_id)
        if stream is None:
            stream = self.streams[node_id] = clients.Stream("", headers=self.seat.headers, node_id=node_id)
        return stream

    async def _read(self) -> None:
        async for raw in self.seat.socket:
            at = time.perf_counter()
            for message in stack.ws_events(raw):
                kind = message.get("type")
                if kind == "node.delta":
                    stream = self.stream(message["node"])
                    stream.seqs.append(message["seq"])
                    stream.take(message["text"], at)
                elif kind in ("node.done", "node.error"):
                    stream = self.stream(message["node"]["id"])
                    stream.final, stream.ended = message["node"], at
                    self.finished.add(stream.node_id)
                    self._check()

    def _check(self) -> None:
        if self.expected is not None and self.expected <= self.finished:
            self.done.set()

    async def post(self, prompt: str, models: list[SimModel]) -> None:
        """Post a prompt to these models, on the seat's own client; what comes back is awaited with `done`."""
        self.done.clear()
        self.expected = None
        by_id = {m.id: m for m in models}
        body = {"text": prompt, "models": [m.id for m in models], "parents": []}
        t0 = time.perf_counter()
        try:
            url = f"/api/canvases/{self.seat.canvas_id}/prompts"
            response = await self.seat.http.post(url, json=body)
            responses = response.raise_for_status().json()["responses"]
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            self.failed_posts.extend(f"posting the prompt failed: {exc!r}" for _ in models)
            self.expected = set()
            self.done.set()
            return
        post_s = time.perf_counter() - t0
        for node in responses:
            stream = self.stream(node["id"])
            stream.prompt, stream.t0, stream.post_s = prompt, t0, post_s
            self.models[node["id"]] = by_id[node["model"]]
        self.expected = {node["id"] for node in responses}
        self._check()

    def take_streams(self) -> list[tuple[clients.Stream, SimModel]]:
        """The streams posted so far (forgotten here, so a long phase does not pile them up)."""
        taken = [(self.streams.pop(node_id), model) for node_id, model in self.models.items()]
        self.models.clear()
        return taken


async def wait_all(watches: list[Watch], timeout_s: float) -> bool:
    waits = [asyncio.ensure_future(w.done.wait()) for w in watches]
    _, pending = await asyncio.wait(waits, timeout=timeout_s)
    for wait in pending:
        wait.cancel()
    return not pending


def poisson_arrivals(count: int, ramp_s: float, seed: int) -> list[float]:
    """Arrival offsets of a Poisson process that brings `count` prompts within `ramp_s` seconds."""
    rng = random.Random(seed)
    return sorted(rng.uniform(0.0, ramp_s) for _ in range(count)) if ramp_s > 0 else [0.0] * count


async def at(start: float, offset: float) -> None:
    await asyncio.sleep(max(0.0, start + offset - time.perf_counter()))


# --- figures ------------------------------------------------------------------------------------------


@dataclass
class Figures:
    ttft: tuple[float, float]
    gap: tuple[float, float]
    tokens: int
    failed: int
    span: float  # p50 of each stream's first token to its last, ms
    per_delta: float  # tokens per message (WebSocket delta or SSE chunk)
    long_gaps: int  # gaps between tokens over LONG_GAP_MS
    gap_max: float

    @classmethod
    def of(cls, streams: list[clients.Stream], failed_posts: int = 0) -> Figures:
        ttfts = [s.ttft_s * 1000 for s in streams if s.ttft_s is not None]
        gaps = [g * 1000 for s in streams for g in s.gaps_s]
        return cls(
            (percentile(ttfts, 50), percentile(ttfts, 99)),
            (percentile(gaps, 50), percentile(gaps, 99)),
            sum(len(s.arrivals) for s in streams),
            sum(1 for s in streams if s.problems) + failed_posts,
            percentile([(s.arrivals[-1] - s.arrivals[0]) * 1000 for s in streams if s.arrivals], 50),
            sum(len(s.arrivals) for s in streams) / max(1, sum(len(set(s.arrivals)) for s in streams)),
            sum(1 for g in gaps if g > LONG_GAP_MS),
            max(gaps, default=math.nan),
        )


def pair(a: float, b: float, digits: int = 1) -> str:
    return f"{a:.{digits}f} / {b:.{digits}f}"


def ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


@dataclass
class Round:
    streams: int
    canvases: int
    ramp_s: float
    direct: Figures
    prism: Figures
    lost_stored: int
    lost_relayed: int
    wall_s: float
    cpu: dict[str, float]  # during the Prism run
    direct_cpu: dict[str, float]  # during the direct run
    breakdown: tuple[str, ...]


TTFT_HEADER = (
    "streams", "canvases", "ramp s", "TTFT p50/p99 direct", "TTFT p50/p99 prism", "ratio p50/p99",
    "gap p50/p99 direct", "gap p50/p99 prism", "ratio p50/p99",
    "gap max d/p", f"gaps > {LONG_GAP_MS} ms d/p", "span p50 d/p", "tokens/msg d/p", "failed d/p",
    "lost tokens stored/relayed",
)  # fmt: skip


def ttft_cells(r: Round) -> tuple[str, ...]:
    d, p = r.direct, r.prism
    return (
        str(r.streams), str(r.canvases), f"{r.ramp_s:g}",
        pair(*d.ttft), pair(*p.ttft), pair(ratio(p.ttft[0], d.ttft[0]), ratio(p.ttft[1], d.ttft[1]), 2),
        pair(*d.gap), pair(*p.gap), pair(ratio(p.gap[0], d.gap[0]), ratio(p.gap[1], d.gap[1]), 2),
        f"{d.gap_max:.0f} / {p.gap_max:.0f}", f"{d.long_gaps} / {p.long_gaps}",
        f"{d.span:.0f} / {p.span:.0f}", f"{d.per_delta:.2f} / {p.per_delta:.2f}",
        f"{d.failed}/{p.failed}", f"{r.lost_stored}/{r.lost_relayed}",
    )  # fmt: skip


CPU_HEADER = (
    "streams", "ramp s", "wall s", "tokens relayed", "web CPU s", "worker CPU s", "database CPU s",
    "Redis CPU s (approx.)", "simulator CPU s", "bench CPU s", "web+worker s / 1k tok", "database s / 1k tok",
    "Redis s / 1k tok", "all Prism s / 1k tok", "direct reader s / 1k tok", "all Prism / direct reader",
)  # fmt: skip


def all_prism_cpu(cpu: dict[str, float]) -> float:
    """Every Prism process and the work it makes its database and Redis do."""
    return cpu["web"] + cpu["worker"] + cpu["database"] + cpu["redis"]


def cpu_cells(r: Round) -> tuple[str, ...]:
    per_k = 1000 / r.prism.tokens if r.prism.tokens else math.nan
    cpu = r.cpu
    reader = r.direct_cpu["bench"] * 1000 / r.direct.tokens if r.direct.tokens else math.nan
    return (
        str(r.streams), f"{r.ramp_s:g}", f"{r.wall_s:.1f}", str(r.prism.tokens),
        *(f"{cpu[name]:.2f}" for name in ("web", "worker", "database", "redis", "simulator", "bench")),
        f"{(cpu['web'] + cpu['worker']) * per_k:.3f}", f"{cpu['database'] * per_k:.3f}",
        f"{cpu['redis'] * per_k:.3f}", f"{all_prism_cpu(cpu) * per_k:.3f}", f"{reader:.3f}",
        f"{ratio(all_prism_cpu(cpu) * per_k, reader):.2f}",
    )  # fmt: skip


# --- the phases -----------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args, live: LiveStack, setup: Setup, simulator: tuple[str, int]):
        self.args = args
        self.live = live
        self.setup = setup
        self.simulator_url, simulator_pid = simulator
        self.pids = dict(live.pids, simulator=simulator_pid, bench=os.getpid())
        say("Processes: " + ", ".join(f"{name} pid {pid}" for name, pid in self.pids.items()))

    def api(self, timeout_s: float = 120.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.live.base_url, limits=clients.UNLIMITED, timeout=timeout_s)

    # 1 + 3: ttft and cpu

    async def ttft_rounds(self) -> list[Round]:
        await self.round(2, 0.0, "warm-up")  # first requests pay for imports and connections
        rounds = []
        ramps = [self.args.ramp_s] + ([0.0] if self.args.burst and self.args.ramp_s > 0 else [])
        for ramp_s in ramps:
            for count in self.args.streams:
                say(f"  round: {count} streams, ramp {ramp_s:g} s (load {procs.load()})")
                result = await self.round(count, ramp_s, f"{count} streams ramp {ramp_s:g}")
                say("    " + " | ".join(f"{h}: {c}" for h, c in zip(TTFT_HEADER, ttft_cells(result), strict=True)))
                rounds.append(result)
        return rounds

    async def round(self, count: int, ramp_s: float, label: str) -> Round:
        models = self.setup.models["ttft"]
        per_canvas = min(MODELS_PER_CANVAS, count)
        canvases = math.ceil(count / per_canvas)
        plan = [models[: min(per_canvas, count - i * per_canvas)] for i in range(canvases)]
        prompts = [f"Scale bench {label}, canvas {i} of {canvases}: how do relays hold up?" for i in range(canvases)]
        arrivals = poisson_arrivals(canvases, ramp_s, seed=count)
        options = models[0].options
        timeout_s = ramp_s + options["ttft_ms"] / 1000 + options["length"] / options["tokens_per_s"] + 120.0

        before = procs.cpu_clocks(self.pids)
        direct = await self.direct(prompts, plan, arrivals, timeout_s)
        direct_cpu = _minus(procs.cpu_clocks(self.pids), before)

        tokens = self.setup.tokens[:canvases]
        async with clients.prism_seats(self.live, tokens, timeout_s) as seats:
            watches = [Watch(seat) for seat in seats]
            database = procs.DatabaseClock(self.live.env["DATABASE_URL"])
            database.start()
            redis_before = procs.redis_cpu_seconds(self.live.env["REDIS_URL"])
            before, started = procs.cpu_clocks(self.pids), time.perf_counter()

            async def post(i: int) -> None:
                await at(started, arrivals[i])
                await watches[i].post(prompts[i], plan[i])

            await asyncio.gather(*(post(i) for i in range(canvases)))
            finished = await wait_all(watches, timeout_s)
            wall_s = time.perf_counter() - started
            cpu = _minus(procs.cpu_clocks(self.pids), before)
            cpu["redis"] = procs.redis_cpu_seconds(self.live.env["REDIS_URL"]) - redis_before
            cpu["database"] = database.stop()
            for watch in watches:
                watch.reader.cancel()
        prism = [pair_ for w in watches for pair_ in w.take_streams()]
        failed_posts = [problem for w in watches for problem in w.failed_posts]
        async with self.api() as api:
            lost_stored, lost_relayed = await self.verify(api, watches, prism)
        self.show_problems(label, direct, [s for s, _ in prism], failed_posts)
        if not finished:
            say(f"  {label}: not every stream ended within {timeout_s:.0f} s")
        streams = [s for s, _ in prism]
        return Round(
            count, canvases, ramp_s, Figures.of(direct), Figures.of(streams, len(failed_posts)),
            lost_stored, lost_relayed, wall_s, cpu, direct_cpu, breakdown_cells(count, streams),
        )  # fmt: skip

    async def direct(
        self, prompts: list[str], plan: list[list[SimModel]], arrivals: list[float], timeout_s: float
    ) -> list[clients.Stream]:
        """The same prompts straight to the simulator, at the same arrival offsets."""
        streams: list[tuple[clients.Stream, SimModel]] = []
        async with contextlib.AsyncExitStack() as own:

            async def read(client, stream: clients.Stream, model: SimModel, offset: float, start: float) -> None:
                await at(start, offset)
                try:
                    await clients.read_direct(client, model.name, model.options, stream)
                except Exception as exc:  # noqa: BLE001 - a failed stream is a figure, not a crash
                    stream.problems.append(f"direct request failed: {exc!r}")

            jobs = []
            for prompt, models, offset in zip(prompts, plan, arrivals, strict=True):
                for model in models:
                    stream = clients.Stream(prompt)
                    streams.append((stream, model))
                    client = await own.enter_async_context(clients.own_client(self.simulator_url, timeout_s))
                    jobs.append((client, stream, model, offset))
            start = time.perf_counter()
            await asyncio.gather(*(read(*job, start) for job in jobs))
        for stream, model in streams:
            if not stream.problems and stream.text != model.expected(stream.prompt):
                stream.problems.append("direct text differs from the expected text")
        return [s for s, _ in streams]

    async def verify(
        self, api: httpx.AsyncClient, watches: list[Watch], prism: list[tuple[clients.Stream, SimModel]]
    ) -> tuple[int, int]:
        """Note each stream's problems and count tokens lost: in the stored text, and on the way to the socket."""

        async def nodes(watch: Watch) -> dict[str, dict]:
            try:
                response = await api.get(f"/api/canvases/{watch.seat.canvas_id}", headers=watch.seat.headers)
                return {n["id"]: n for n in response.raise_for_status().json()["nodes"]}
            except httpx.HTTPError:
                return {}

        stored: dict[str, dict] = {}
        for found in await asyncio.gather(*(nodes(w) for w in watches)):
            stored.update(found)
        lost_stored = lost_relayed = 0
        for stream, model in prism:
            expected = model.expected(stream.prompt)
            want = count_tokens(expected)
            node = stored.get(stream.node_id) or {}
            stream.metrics = node.get("metrics") or {}
            text = node.get("text") or ""
            if stream.final is None:
                stream.problems.append("no node.done/node.error before the timeout")
            if node.get("status") != "done":
                stream.problems.append(f"status {node.get('status')}: {node.get('error')}")
            if stream.seqs != list(range(1, len(stream.seqs) + 1)):
                stream.problems.append("deltas' seq has gaps or repeats")
            if text != expected:
                missing = want - count_tokens(text) if expected.startswith(text) else want
                lost_stored += missing
                stream.problems.append(f"stored text is not the expected text ({missing} tokens lost)")
            if stream.text != expected:
                missing = want - len(stream.arrivals) if expected.startswith(stream.text) else want
                lost_relayed += missing
                stream.problems.append(f"relayed text is not the expected text ({missing} tokens lost)")
        return lost_stored, lost_relayed

    def show_problems(
        self, label: str, direct: list[clients.Stream], prism: list[clients.Stream], failed_posts: list[str]
    ) -> None:
        failed = [("direct", s.prompt, s.problems) for s in direct if s.problems]
        failed += [("prism", s.prompt, s.problems) for s in prism if s.problems]
        failed += [("prism", "", [problem]) for problem in failed_posts]
        for side, prompt, problems in failed[: self.args.show_problems]:
            say(f"    {label}: {side} {prompt!r}: {'; '.join(problems)}")
        if len(failed) > self.args.show_problems:
            say(f"    {label}: ... {len(failed) - self.args.show_problems} more failed streams")

    # 2: fan-out

    async def fanout(self) -> list[tuple[float, ...]]:
        models = self.setup.models["fanout"]
        slowest = models[0]
        rows = []
        async with clients.prism_seats(self.live, self.setup.tokens[:1]) as seats:
            watch = Watch(seats[0])
            for repeat in range(-1, self.args.fanout_repeat):  # the first is a warm-up
                prompt = f"Scale bench fan-out {repeat}: compare these models."
                direct_one = await self.direct([prompt], [[slowest]], [0.0], 120.0)
                direct_all = await self.direct([prompt], [models], [0.0], 120.0)
                prism_one = await self.prism_wall(watch, prompt + " (alone)", [slowest])
                prism_all = await self.prism_wall(watch, prompt, models)
                walls = (
                    _wall(direct_one), _wall(direct_all), prism_one, prism_all,
                )  # fmt: skip
                if repeat >= 0:
                    rows.append(walls)
                    say(f"  fan-out {repeat}: " + ", ".join(f"{w:.2f} s" for w in walls))
            watch.reader.cancel()
        return rows

    async def prism_wall(self, watch: Watch, prompt: str, models: list[SimModel]) -> float:
        await watch.post(prompt, models)
        await wait_all([watch], 120.0)
        streams = watch.take_streams()
        bad = [s for s, m in streams if (s.final or {}).get("status") != "done" or s.text != m.expected(prompt)]
        if bad or watch.failed_posts:
            say(f"    fan-out: {len(bad)} streams failed {watch.failed_posts[:1]}")
            watch.failed_posts.clear()
        if any(s.ended is None for s, _ in streams):
            return math.nan
        return max(s.ended for s, _ in streams) - streams[0][0].t0

    # 4: memory

    async def memory(self) -> list[tuple[int, float, float, float, int]]:
        """Waves of short streams; the worker's and web process's RSS at checkpoints."""
        models = self.setup.models["memory"]
        total, wave = self.args.memory_streams, max(MODELS_PER_CANVAS, self.args.memory_wave)
        canvases_needed = min(len(self.setup.tokens), wave // MODELS_PER_CANVAS)
        rows = [(0, 0.0, procs.rss_mib(self.pids["worker"]), procs.rss_mib(self.pids["web"]), 0)]
        finished = failed = 0
        problems: list[str] = []
        checkpoints = sorted({100, total} | {c for c in (1000, 2500, 5000) if c < total})
        async with clients.prism_seats(self.live, self.setup.tokens[:canvases_needed]) as seats:
            watches = [Watch(seat) for seat in seats]
            started = time.perf_counter()
            number = 0
            while finished < total:
                if time.perf_counter() - started > self.args.memory_max_s:
                    say(
                        f"  memory: stopped after {self.args.memory_max_s:.0f} s (--memory-max-s) at {finished} streams"
                    )
                    await asyncio.sleep(2.0)
                    worker, web = procs.rss_mib(self.pids["worker"]), procs.rss_mib(self.pids["web"])
                    rows.append((finished, time.perf_counter() - started, worker, web, failed))
                    break
                target = next(c for c in checkpoints if c > finished)
                size = min(wave, target - finished)
                canvases = max(1, size // MODELS_PER_CANVAS)
                active = watches[:canvases]
                number += 1
                prompts = [f"Scale bench memory wave {number}, canvas {i}: a short answer." for i in range(canvases)]
                await asyncio.gather(*(w.post(p, models) for w, p in zip(active, prompts, strict=True)))
                if not await wait_all(active, 120.0):
                    say(f"  memory: wave {number} did not finish within 120 s")
                for watch in active:
                    failed += len(watch.failed_posts)
                    problems += watch.failed_posts
                    watch.failed_posts.clear()
                    for stream, model in watch.take_streams():
                        finished += 1
                        final = stream.final or {}
                        if final.get("status") != "done":
                            problems.append(f"{stream.node_id}: {final.get('status') or 'no end'} {final.get('error')}")
                        elif stream.text != model.expected(stream.prompt):
                            problems.append(f"{stream.node_id}: text differs from the simulator's")
                        else:
                            continue
                        failed += 1
                if finished >= target:
                    await asyncio.sleep(2.0)  # the tasks finish just after their node.done
                    worker, web = procs.rss_mib(self.pids["worker"]), procs.rss_mib(self.pids["web"])
                    rows.append((finished, time.perf_counter() - started, worker, web, failed))
                    elapsed = rows[-1][1]
                    say(f"  memory: {finished} streams, {elapsed:.0f} s, worker {worker:.1f} MiB, web {web:.1f} MiB")
            for watch in watches:
                watch.reader.cancel()
        for problem in problems[: self.args.show_problems]:
            say(f"  memory: failed: {problem}")
        return rows


def _minus(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in after}


def _wall(streams: list[clients.Stream]) -> float:
    if any(s.ended is None or s.problems for s in streams):
        return math.nan
    return max(s.ended for s in streams) - min(s.t0 for s in streams)


# --- printing -------------------------------------------------------------------------------------------


def print_ttft(rounds: list[Round]) -> None:
    say()
    say("1. Latency, ms (ratio = Prism / direct; prompts fan out to 5 models; failed = streams with any problem)")
    say(table(TTFT_HEADER, [ttft_cells(r) for r in rounds]))
    say()
    say("   Where Prism's TTFT goes, p50 / p99 ms (from the nodes' own metrics)")
    say(table(("ramp s", *BREAKDOWN_HEADER), [(f"{r.ramp_s:g}", *r.breakdown) for r in rounds]))


def print_fanout(rows: list[tuple[float, ...]], models: list[SimModel]) -> None:
    say()
    speeds = ", ".join(f"{m.options['tokens_per_s']:g} tok/s + {m.options['ttft_ms']} ms" for m in models)
    say(f"2. Fan-out: one prompt to 8 models ({speeds}; {models[0].options['length']} tokens each)")
    say("   wall s: request to the last token (direct) / POST to the last node.done (Prism); median of the repeats")
    header = (
        "", "direct slowest", "direct 8", "Prism slowest", "Prism 8",
        "Prism 8 / Prism slowest", "Prism 8 / direct slowest", "Prism slowest / direct slowest",
    )  # fmt: skip

    def cells(label: str, w: tuple[float, ...]) -> tuple[str, ...]:
        d1, _, p1, p8 = w
        return (label, *(f"{v:.2f}" for v in w), *(f"{v:.2f}" for v in (ratio(p8, p1), ratio(p8, d1), ratio(p1, d1))))

    median = tuple(sorted(column)[len(column) // 2] for column in zip(*rows, strict=True)) if rows else ()
    lines = [cells(f"run {i}", w) for i, w in enumerate(rows)] + ([cells("median", median)] if rows else [])
    say(table(header, lines))


def print_cpu(rounds: list[Round]) -> None:
    say()
    say("3. CPU during each Prism round (wall = first POST to the last node.done; direct reader = this")
    say("   benchmark's process reading the same streams straight from the simulator)")
    say(table(CPU_HEADER, [cpu_cells(r) for r in rounds]))
    say("   database = the PostgreSQL backends connected to the bench's database; Redis = the whole server's")
    say("   INFO cpu (shared with anything else on this machine that uses it, so an upper bound)")
    for r in rounds:
        per_k = 1000 / r.prism.tokens if r.prism.tokens else math.nan
        cpu = {name: r.cpu[name] * per_k for name in ("web", "worker", "database", "redis")}
        say(
            f"   all Prism CPU s / 1k tokens at {r.streams} streams (ramp {r.ramp_s:g} s): "
            f"{sum(cpu.values()):.3f} = web {cpu['web']:.3f} + worker {cpu['worker']:.3f} "
            f"+ database {cpu['database']:.3f} + Redis {cpu['redis']:.3f}"
        )


def print_memory(rows: list[tuple[int, float, float, float, int]]) -> None:
    say()
    say("4. Memory: RSS (VmRSS) after N finished streams (20 tokens each, 5 models per prompt)")
    header = ("finished streams", "elapsed s", "worker MiB", "web MiB", "failed streams")
    say(table(header, [(str(n), f"{s:.0f}", f"{w:.1f}", f"{b:.1f}", str(f)) for n, s, w, b, f in rows]))
    hundred = next((r for r in rows if r[0] >= 100), None)
    last = rows[-1]
    if hundred and last[0] > hundred[0]:
        growth = last[2] - hundred[2]
        per_k = growth / (last[0] - hundred[0]) * 1000
        say(
            f"   worker: {hundred[2]:.1f} MiB after {hundred[0]} streams, {last[2]:.1f} MiB after {last[0]}: "
            f"{growth:+.1f} MiB ({per_k:+.2f} MiB per 1,000 streams); web {last[3] - hundred[3]:+.1f} MiB"
        )
    thousand = next((r for r in rows if r[0] >= 1000), None)
    if thousand and last[0] > thousand[0]:  # past the first thousand: caches and pools have filled
        per_k = (last[2] - thousand[2]) / (last[0] - thousand[0]) * 1000
        say(
            f"   worker from {thousand[0]} to {last[0]} streams: {last[2] - thousand[2]:+.1f} MiB "
            f"({per_k:+.2f} MiB per 1,000)"
        )


# --- main -------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    t_start = time.monotonic()
    say(f"Prism at scale: services mode, {os.cpu_count()} CPUs, phases {','.join(args.only)}")
    say(f"Load average at start: {procs.load()}")
    say(
        f"Streams {args.streams} at {args.tokens_per_s:g} tok/s, {args.length} tokens, TTFT {args.ttft_ms} ms"
        f"; ramp {args.ramp_s:g} s{' and 0 s' if args.burst else ''}; worker threads {args.worker_concurrency}; "
        f"DB pool {args.db_pool} each for web and worker; "
        f"PRISM_FLUSH_MS {os.environ.get('PRISM_FLUSH_MS', 'unset (the default)')}"
    )  # fmt: skip
    os.environ["PRISM_MAX_RUNS_PER_USER"] = "100000"  # the bench measures relaying, not the per-user limit
    os.environ.setdefault("PRISM_DB_POOL_SIZE", str(args.db_pool))
    procs.use_worker_concurrency(args.worker_concurrency)
    relay = {"ttft_ms": args.ttft_ms, "tokens_per_s": args.tokens_per_s, "length": args.length, "reasoning_length": 0}
    fan = [
        {"ttft_ms": round(400 - 300 * i / 7), "tokens_per_s": round(10 + 30 * i / 7, 1), "length": args.fanout_length,
         "reasoning_length": 0}
        for i in range(8)
    ]  # fmt: skip
    short = {"ttft_ms": 0, "tokens_per_s": 400, "length": 20, "reasoning_length": 0}
    users = max(math.ceil(n / MODELS_PER_CANVAS) for n in args.streams)
    with _work_dir(args.keep_logs) as tmp, procs.simulator_process(Path(tmp) / "simulator.log") as simulator:
        if {"ttft", "fanout", "cpu"} & set(args.only):
            (Path(tmp) / "a").mkdir()
            with live_stack("services", Path(tmp) / "a") as live:
                setup = prepare(live, simulator[0], {"ttft": [relay] * MODELS_PER_CANVAS, "fanout": fan}, users)
                bench = Bench(args, live, setup, simulator)
                if "fanout" in args.only:
                    say(f"Fan-out (load {procs.load()})")
                    print_fanout(asyncio.run(bench.fanout()), setup.models["fanout"])
                if {"ttft", "cpu"} & set(args.only):
                    say()
                    say(f"Rounds (load {procs.load()})")
                    rounds = asyncio.run(bench.ttft_rounds())
                    if "ttft" in args.only:
                        print_ttft(rounds)
                    if "cpu" in args.only:
                        print_cpu(rounds)
        if "memory" in args.only:
            say()
            say(f"Memory, on a fresh stack (load {procs.load()})")
            canvases = max(1, min(100, args.memory_wave // MODELS_PER_CANVAS))
            (Path(tmp) / "b").mkdir()
            with live_stack("services", Path(tmp) / "b") as live:
                setup = prepare(live, simulator[0], {"memory": [short] * MODELS_PER_CANVAS}, canvases)
                print_memory(asyncio.run(Bench(args, live, setup, simulator).memory()))
    say()
    say(f"Load average at end: {procs.load()}; total {time.monotonic() - t_start:.0f} s")


if __name__ == "__main__":
    main()
