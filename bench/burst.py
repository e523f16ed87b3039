"""Issue 17's bench: N prompts posted at once, in each way Prism is deployed, against the direct stream.

One client posts prompts and reads tokens as a browser does (one canvas per prompt, its WebSocket
opened before posting), one model per prompt, against the OpenAI-compatible simulator in a process of
its own (100 ms to first token, 50 tokens/s, 200 tokens by default). For each N (10 and 100) the same
prompts are read straight from the simulator first, all at once, as the baseline. The columns are
the services mode, the embedded mode, and the services mode with two web processes
(WEB_CONCURRENCY=2: uvicorn's workers share one port, and the kernel spreads the connections).

    .venv/bin/python bench/burst.py [--columns services,embedded,services-2web] [--prompts 10,100] [--repeat 3]
    make bench-burst

See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import math
import os
import statistics
import sys
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import clients, procs
from bench.figures import Side, breakdown_parts, percentile, table
from bench.relay import Bench, Measured, _work_dir
from tests.stack import LiveStack, Mode, RedisServer, live_stack


@dataclass(frozen=True)
class Column:
    title: str
    mode: Mode
    web_processes: int


COLUMNS = {
    "services": Column("services", "services", 1),
    "embedded": Column("embedded", "embedded", 1),
    "services-2web": Column("services, 2 web", "services", 2),
}
PRISM_PROCESSES = ("web", "worker")  # what the web+worker CPU figure charges


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--columns", type=_columns, default=list(COLUMNS), help=f"from {','.join(COLUMNS)}")
    parser.add_argument("--prompts", type=_counts, default=[10, 100], help="prompts posted at once (default 10,100)")
    parser.add_argument("--ttft-ms", type=int, default=100, help="the simulator's time to first token")
    parser.add_argument("--tokens-per-s", type=float, default=50.0, help="the simulator's pace per stream")
    parser.add_argument("--length", type=int, default=200, help="tokens per answer")
    parser.add_argument("--slow-gap-ms", type=float, default=60.0, help="a gap over this is counted (if Prism's)")
    parser.add_argument("--worker-concurrency", type=int, default=200, help="Celery worker threads (services)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="bursts of each size per column; the table shows their medians"
    )
    parser.add_argument("--show-problems", type=int, default=5, help="print up to this many failed streams")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs and print where")
    return parser.parse_args(argv)


def _columns(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names or set(names) - set(COLUMNS):
        raise argparse.ArgumentTypeError(f"choose from {','.join(COLUMNS)}")
    return names


def _counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("give positive prompt counts, e.g. 10,100")
    return counts


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    options = {"tokens_per_s": args.tokens_per_s, "ttft_ms": args.ttft_ms, "length": args.length}
    print(f"Prism burst benchmark: {os.cpu_count()} CPUs, prompts at once {args.prompts}, columns {args.columns}")
    print(f"Simulator per stream: {options}; Celery worker threads: {args.worker_concurrency}; load {procs.load()}")
    # The bench measures a burst, not the per-user limit on runs going at once (one user per prompt anyway).
    os.environ["PRISM_MAX_RUNS_PER_USER"] = str(100 * max(args.prompts))
    results: dict[str, list[Figures]] = {}
    with _work_dir(args.keep_logs) as tmp, procs.simulator_process(Path(tmp) / "simulator.log") as simulator:
        procs.use_worker_concurrency(args.worker_concurrency)
        for name in args.columns:
            column = COLUMNS[name]
            folder = Path(tmp) / name
            folder.mkdir()
            with column_stack(column, folder) as (live, redis_pid):
                setup = procs.prepare(live, simulator[0], options, max(args.prompts))
                bench = BurstBench(column_args(args, column), options, live, setup, simulator, redis_pid)
                results[name] = asyncio.run(bench.run_column())
    print(f"\nLoad average at the end: {procs.load()}")
    rounds = f"; the median of {args.repeat} bursts, failures and lost tokens summed" if args.repeat > 1 else ""
    for index, count in enumerate(args.prompts):
        print(f"\n{count} prompts posted at once (ms; added = Prism - direct, the same prompts read straight{rounds})")
        header = ("", *(COLUMNS[name].title for name in args.columns))
        cells = [results[name][index].cells() for name in args.columns]
        print(table(header, [(label, *(c[i] for c in cells)) for i, label in enumerate(ROW_LABELS)]))


def column_args(args: argparse.Namespace, column: Column) -> argparse.Namespace:
    """The arguments relay.Bench reads, for one column."""
    one = copy.copy(args)
    one.mode, one.streams = column.title, args.prompts
    return one


@contextlib.contextmanager
def column_stack(column: Column, folder: Path) -> Iterator[tuple[LiveStack, int | None]]:
    """The column's stack; in services mode on a Redis of its own, whose CPU is then the stack's alone."""
    env = {"WEB_CONCURRENCY": str(column.web_processes)}
    if column.mode == "embedded":
        with live_stack("embedded", folder, env=env) as live:
            yield live, None
        return
    redis_server = RedisServer(folder)
    redis_server.start()
    try:
        with live_stack("services", folder, redis_url=redis_server.url, env=env) as live:
            yield live, redis_server.process.pid
    finally:
        redis_server.kill()


class BurstBench(Bench):
    """relay.Bench's rounds, with the database backends and Redis charged too."""

    def __init__(self, args, options, live: LiveStack, setup, simulator, redis_pid: int | None):
        super().__init__(args, options, live, setup, simulator)
        self.redis_pid = redis_pid

    def cpu_clocks(self) -> dict[str, float]:
        clocks = super().cpu_clocks()
        if self.redis_pid is not None:
            clocks["redis"] = procs.cpu_seconds(self.redis_pid)
        return clocks

    async def measure(self, count: int, label: str) -> Measured:
        """relay.Bench's round, with the CPU of the database's backends over it (`database`); the direct
        streams in it do not touch the database."""
        if "DATABASE_URL" not in self.live.env:
            return await super().measure(count, label)
        database = procs.DatabaseClock(self.live.env["DATABASE_URL"])
        database.start()
        try:
            measured = await super().measure(count, label)
        finally:
            seconds = database.stop()
        measured.cpu["database"] = seconds
        return measured

    async def run_column(self) -> list[Figures]:
        await self.round(2, "warm-up")  # first requests pay for imports and connections
        figures = []
        for count in self.args.prompts:
            bursts = []
            for index in range(self.args.repeat):
                label = f"{self.args.mode} burst of {count}" + (f" ({index + 1})" if self.args.repeat > 1 else "")
                measured = await self.measure(count, label)
                bursts.append(Figures.of(measured, self.args.length, self.args.slow_gap_ms / 1000))
                cells = zip(ROW_LABELS, bursts[-1].cells(), strict=True)
                print(f"  {label}: " + " | ".join(f"{k} {v}" for k, v in cells), flush=True)
            figures.append(Figures.median(bursts))
        return figures


ROW_LABELS = (
    "added TTFT p50 / p99",
    "added gap p99 (max gap prism / direct)",
    "gaps > 60 ms the provider did not make",
    "failed d/p, tokens lost",
    "CPU s / 1k tokens: web+worker",
    "  + database + Redis = all",
    "TTFT p50: direct, prism",
    "prism p50: POST, queued, engine TTFT, rest",
)


@dataclass
class Figures:
    direct: Side
    prism: Side
    max_gap_ms: tuple[float, float]  # prism, direct
    slow_gaps: float  # a count; the median of an even number of bursts may fall between two
    lost_tokens: int
    cpu: dict[str, float]
    breakdown: tuple[float, float, float, float]  # p50 of POST answered, queued, engine TTFT, the rest

    @classmethod
    def of(cls, measured: Measured, length: int, slow_s: float) -> Figures:
        direct, prism = measured.direct, measured.prism
        return cls(
            direct=Side.of(direct),
            prism=Side.of(prism),
            max_gap_ms=(_max_gap_ms(prism), _max_gap_ms(direct)),
            slow_gaps=sum(_slow_gaps(d, p, slow_s) for d, p in zip(direct, prism, strict=True)),
            lost_tokens=sum(max(0, length - len(s.arrivals)) for s in prism),
            cpu=measured.cpu,
            breakdown=_breakdown(prism),
        )

    @classmethod
    def median(cls, bursts: list[Figures]) -> Figures:
        """Bursts of one size as one: each figure's median (on a shared two-core machine one burst's
        figures spread by a quarter), and failures and lost tokens summed, as one is one too many."""
        if len(bursts) == 1:
            return bursts[0]

        def middle(values) -> float:
            return statistics.median(list(values))

        def side(sides: list[Side]) -> Side:
            return Side(
                **{name: middle(getattr(s, name) for s in sides) for name in _MEDIAN_SIDE},
                failures=sum(s.failures for s in sides),
            )

        return cls(
            direct=side([b.direct for b in bursts]),
            prism=side([b.prism for b in bursts]),
            max_gap_ms=(middle(b.max_gap_ms[0] for b in bursts), middle(b.max_gap_ms[1] for b in bursts)),
            slow_gaps=middle(b.slow_gaps for b in bursts),
            lost_tokens=sum(b.lost_tokens for b in bursts),
            cpu={name: middle(b.cpu.get(name, 0.0) for b in bursts) for name in bursts[0].cpu},
            breakdown=tuple(middle(b.breakdown[i] for b in bursts) for i in range(4)),
        )

    def cells(self) -> tuple[str, ...]:
        d, p = self.direct, self.prism
        prism_cpu = sum(self.cpu.get(name, 0.0) for name in PRISM_PROCESSES)
        database = self.cpu.get("database", 0.0)
        redis = self.cpu.get("redis", 0.0)
        per_k = 1000 / p.tokens if p.tokens else math.nan
        return (
            f"{p.ttft_p50 - d.ttft_p50:+.0f} / {p.ttft_p99 - d.ttft_p99:+.0f}",
            f"{p.gap_p99 - d.gap_p99:+.1f} ({self.max_gap_ms[0]:.0f} / {self.max_gap_ms[1]:.0f})",
            f"{self.slow_gaps:.0f}",
            f"{d.failures}/{p.failures}, {self.lost_tokens}",
            f"{prism_cpu * per_k:.3f}",
            f"+ {database * per_k:.3f} + {redis * per_k:.3f} = {(prism_cpu + database + redis) * per_k:.3f}",
            f"{d.ttft_p50:.0f}, {p.ttft_p50:.0f}",
            ", ".join(f"{part:.0f}" for part in self.breakdown),
        )


_MEDIAN_SIDE = [f.name for f in fields(Side) if f.name != "failures"]  # failures are summed


def _max_gap_ms(streams: list[clients.Stream]) -> float:
    return max((gap * 1000 for s in streams for gap in s.gaps_s), default=math.nan)


def _slow_gaps(direct: clients.Stream, prism: clients.Stream, slow_s: float) -> int:
    """Prism's gaps over slow_s where the same prompt's direct stream had none at that token."""
    return sum(1 for d, p in zip(direct.gaps_s, prism.gaps_s, strict=False) if p > slow_s >= d)


def _breakdown(prism: list[clients.Stream]) -> tuple[float, float, float, float]:
    posts, queued, engine, rest = breakdown_parts(prism)
    return percentile(posts, 50), percentile(queued, 50), percentile(engine, 50), percentile(rest, 50)


if __name__ == "__main__":
    main()
