"""Percentiles and the printed tables."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.clients import Stream


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


@dataclass
class Side:
    """One side's figures for one run, in milliseconds."""

    ttft_p50: float
    ttft_p99: float
    gap_p50: float
    gap_p99: float
    tokens: int
    failures: int

    @classmethod
    def of(cls, streams: list[Stream]) -> Side:
        ttfts = [s.ttft_s * 1000 for s in streams if s.ttft_s is not None]
        gaps = [g * 1000 for s in streams for g in s.gaps_s]
        return cls(
            ttft_p50=percentile(ttfts, 50),
            ttft_p99=percentile(ttfts, 99),
            gap_p50=percentile(gaps, 50),
            gap_p99=percentile(gaps, 99),
            tokens=sum(len(s.arrivals) for s in streams),
            failures=sum(1 for s in streams if s.problems),
        )


@dataclass
class Row:
    streams: int
    direct: Side
    prism: Side
    cpu: dict[str, float]  # process name → CPU seconds used during the Prism run
    wall_s: float  # the Prism run's duration: posting the prompts to the last node.done
    breakdown: tuple[str, ...]  # breakdown_cells()


LATENCY_HEADER = (
    "streams", "TTFT p50/p99 direct", "TTFT p50/p99 prism", "added p50", "ratio p50",
    "gap p50/p99 direct", "gap p50/p99 prism", "added gap p50/p99", "failures d/p",
)  # fmt: skip


def latency_cells(row: Row) -> tuple[str, ...]:
    d, p = row.direct, row.prism
    ratio = p.ttft_p50 / d.ttft_p50 if d.ttft_p50 else math.nan
    return (
        str(row.streams),
        _pair(d.ttft_p50, d.ttft_p99),
        _pair(p.ttft_p50, p.ttft_p99),
        f"{p.ttft_p50 - d.ttft_p50:+.1f}",
        f"{ratio:.2f}",
        _pair(d.gap_p50, d.gap_p99),
        _pair(p.gap_p50, p.gap_p99),
        f"{p.gap_p50 - d.gap_p50:+.1f} / {p.gap_p99 - d.gap_p99:+.1f}",
        f"{d.failures}/{p.failures}",
    )


CPU_NAMES = ("web", "worker", "simulator", "bench")
CPU_HEADER = (
    "streams", "wall s", "tokens relayed", *(f"{n} CPU s" for n in CPU_NAMES), "web+worker CPU s / 1k tokens",
)  # fmt: skip


def cpu_cells(row: Row) -> tuple[str, ...]:
    prism = sum(row.cpu.get(name, 0.0) for name in ("web", "worker"))
    per_k = prism / row.prism.tokens * 1000 if row.prism.tokens else math.nan
    used = (f"{row.cpu[name]:.2f}" if name in row.cpu else "-" for name in CPU_NAMES)
    return (str(row.streams), f"{row.wall_s:.2f}", str(row.prism.tokens), *used, f"{per_k:.3f}")


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(cells[i]) for cells in (header, *rows)) for i in range(len(header))]
    lines = [" | ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True)) for cells in rows]
    head = " | ".join(cell.rjust(width) for cell, width in zip(header, widths, strict=True))
    return "\n".join([head, "-+-".join("-" * width for width in widths), *lines])


def _pair(a: float, b: float) -> str:
    return f"{a:.1f} / {b:.1f}"


BREAKDOWN_HEADER = ("streams", "POST answered", "queued (created → claimed)", "engine TTFT", "the rest")


def breakdown_cells(streams: int, prism: list[Stream]) -> tuple[str, ...]:
    """Where Prism's TTFT goes, p50 / p99 of each part, from the stored nodes' own metrics.

    queued: the node's queue_ms (created until a worker claimed it, waiting for a provider slot
    included); engine TTFT: the node's ttft_ms (the claimed run's first provider token, as the engine
    saw it); the rest: the client's TTFT less those two (the request up to the node's creation, the
    claim's own queries, and the first delta's way from the engine to the WebSocket client).
    """
    return (str(streams), *(_pair(percentile(v, 50), percentile(v, 99)) for v in breakdown_parts(prism)))


def breakdown_parts(prism: list[Stream]) -> tuple[list[float], list[float], list[float], list[float]]:
    """breakdown_cells()'s four parts, in milliseconds, one value per stream."""
    measured = [s for s in prism if s.ttft_s is not None and s.metrics.get("ttft_ms") is not None]
    queued = [float(s.metrics.get("queue_ms") or 0) for s in measured]
    engine = [float(s.metrics["ttft_ms"]) for s in measured]
    rest = [s.ttft_s * 1000 - q - e for s, q, e in zip(measured, queued, engine, strict=True)]
    posts = [s.post_s * 1000 for s in prism if s.post_s is not None]
    return posts, queued, engine, rest
