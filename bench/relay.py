"""How much latency Prism adds between a provider and a browser, and what relaying costs in CPU.

N concurrent streams go from the OpenAI-compatible simulator (its own process) through Prism to
WebSocket clients, and the same N streams are read straight from the simulator. For each N it prints
time to first token and the gaps between tokens (p50, p99) for both, Prism's ratio and added
milliseconds, failures, and the CPU seconds Prism's processes spent per 1,000 tokens relayed.

    .venv/bin/python bench/relay.py [--mode services|embedded] [--streams 1,10,100]

See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench import clients, procs
from bench.figures import (
    BREAKDOWN_HEADER,
    CPU_HEADER,
    LATENCY_HEADER,
    Row,
    Side,
    breakdown_cells,
    cpu_cells,
    latency_cells,
    table,
)
from tests.stack import LiveStack, live_stack

SIMULATED_MODEL = "sim-swift"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("services", "embedded"), default="services")
    parser.add_argument("--streams", type=_counts, default=[1, 10, 100], help="comma-separated N (default 1,10,100)")
    parser.add_argument("--tokens-per-s", type=float, default=20.0, help="the simulator's pace per stream")
    parser.add_argument("--ttft-ms", type=int, default=200, help="the simulator's time to first token")
    parser.add_argument("--length", type=int, default=60, help="tokens per answer")
    parser.add_argument("--worker-concurrency", type=int, default=200, help="Celery worker threads (services)")
    parser.add_argument("--users", type=int, default=0, help="users the streams share (default: one per stream)")
    parser.add_argument("--show-problems", type=int, default=5, help="print up to this many failed streams")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs and print where")
    return parser.parse_args(argv)


def _counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("give positive stream counts, e.g. 1,10,100")
    return counts


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    options = {"tokens_per_s": args.tokens_per_s, "ttft_ms": args.ttft_ms, "length": args.length}
    print(f"Prism relay benchmark: mode {args.mode}, {os.cpu_count()} CPUs, streams {args.streams}")
    print(f"Simulator per stream: {options}; PRISM_FLUSH_MS {os.environ.get('PRISM_FLUSH_MS', 'unset (the default)')}")
    print(f"Users: {args.users or 'one per stream'}; Celery worker threads: {args.worker_concurrency} (services)")
    users = args.users or max(args.streams)
    # The bench measures relaying, not the per-user limit on runs going at once.
    os.environ["PRISM_MAX_RUNS_PER_USER"] = str(100 * max(args.streams))
    with _work_dir(args.keep_logs) as tmp:
        with procs.simulator_process(Path(tmp) / "simulator.log") as simulator:
            procs.use_worker_concurrency(args.worker_concurrency)
            with live_stack(args.mode, Path(tmp)) as live:
                setup = procs.prepare(live, simulator[0], options, users)
                rows = asyncio.run(Bench(args, options, live, setup, simulator).run())
    print()
    print(f"Latency, milliseconds ({args.mode}; added = Prism - direct, ratio = Prism / direct)")
    print(table(LATENCY_HEADER, [latency_cells(row) for row in rows]))
    print()
    print(f"CPU during each Prism run ({args.mode}; wall = posting the prompts to the last node.done)")
    print(table(CPU_HEADER, [cpu_cells(row) for row in rows]))
    print()
    print(f"Where Prism's TTFT goes, p50 / p99 ms ({args.mode}; from the nodes' own metrics, see bench/README.md)")
    print(table(BREAKDOWN_HEADER, [row.breakdown for row in rows]))


@contextlib.contextmanager
def _work_dir(keep: bool) -> Iterator[str]:
    if not keep:
        with tempfile.TemporaryDirectory(prefix="prism-bench-") as tmp:
            yield tmp
        return
    tmp = tempfile.mkdtemp(prefix="prism-bench-")
    print(f"Logs are kept in {tmp}")
    yield tmp


@dataclass
class Measured:
    """One round's streams, both ways, and the CPU seconds each process used during the Prism side."""

    direct: list[clients.Stream]
    prism: list[clients.Stream]
    cpu: dict[str, float]
    wall_s: float  # posting the prompts to the last node.done


class Bench:
    def __init__(self, args, options: dict, live: LiveStack, setup: procs.BenchSetup, simulator: tuple[str, int]):
        self.args = args
        self.options = options
        self.live = live
        self.setup = setup
        self.simulator_url, simulator_pid = simulator
        self.pids = dict(live.pids, simulator=simulator_pid, bench=os.getpid())
        print("Processes: " + ", ".join(f"{name} pid {pid}" for name, pid in self.pids.items()), flush=True)
        # Long enough for the slowest stream of a round, with room for a struggling stack.
        self.timeout_s = args.ttft_ms / 1000 + args.length / max(args.tokens_per_s, 1.0) + 60.0

    async def run(self) -> list[Row]:
        await self.round(2, "warm-up")  # first requests pay for imports and connections
        rows = []
        for count in self.args.streams:
            row = await self.round(count, f"{self.args.mode} round {count}")
            print(f"  {count} streams: " + " | ".join(latency_cells(row)[1:]), flush=True)
            rows.append(row)
        return rows

    def api(self) -> httpx.AsyncClient:
        # A new client for each phase, like the direct run's: a connection left idle since an earlier
        # phase may be closed by the server (keep-alive timeout) just as a POST goes out on it.
        return httpx.AsyncClient(base_url=self.live.base_url, limits=clients.UNLIMITED, timeout=self.timeout_s)

    async def round(self, count: int, label: str) -> Row:
        measured = await self.measure(count, label)
        direct, prism = measured.direct, measured.prism
        return Row(count, Side.of(direct), Side.of(prism), measured.cpu, measured.wall_s, breakdown_cells(count, prism))

    async def measure(self, count: int, label: str) -> Measured:
        """N prompts read straight from the simulator, then the same N posted to Prism at once."""
        prompts = [f"Benchmark {label}, stream {i} of {count}: how do relays work?" for i in range(count)]
        direct = await clients.run_direct(self.simulator_url, SIMULATED_MODEL, self.options, prompts, self.timeout_s)
        clients.note_lost_tokens(direct, self.args.length)
        tokens = [self.setup.tokens[i % len(self.setup.tokens)] for i in range(count)]
        async with clients.prism_seats(self.live, tokens, self.timeout_s) as seats:
            before, started = self.cpu_clocks(), time.perf_counter()
            prism = await clients.run_prism(seats, self.setup.model_id, prompts, self.timeout_s)
            wall_s = time.perf_counter() - started
            after = self.cpu_clocks()
        async with self.api() as api:
            await clients.verify(api, prism, self.args.length)
        for d, p in zip(direct, prism, strict=True):
            if not d.problems and not p.problems and d.text != p.text:
                p.problems.append("text differs from the same prompt's direct stream")
        self.show_problems(label, direct, prism)
        cpu = {name: after[name] - before.get(name, 0.0) for name in after}
        return Measured(direct, prism, cpu, wall_s)

    def cpu_clocks(self) -> dict[str, float]:
        """CPU seconds used so far by each process the figures charge (a process's children included)."""
        return procs.cpu_clocks(self.pids)

    def show_problems(self, label: str, direct: list[clients.Stream], prism: list[clients.Stream]) -> None:
        failed = [("direct", s) for s in direct if s.problems] + [("prism", s) for s in prism if s.problems]
        for side, stream in failed[: self.args.show_problems]:
            print(f"  {label}: {side} stream {stream.prompt!r}: {'; '.join(stream.problems)}")


if __name__ == "__main__":
    main()
