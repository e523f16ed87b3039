"""A self-hosted vLLM server: its health and its Prometheus metrics.

`/health` and `/metrics` sit beside the OpenAI-compatible `/v1` (the base URL ends in `/v1`).
Metric names changed across vLLM releases; both the current and the older names are read.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import httpx2

from providers.http import make_client

# Current name first, then the names older releases used (../shared/WIRE-FORMATS.md §2, §8).
_NAMES = {
    "running": ("vllm:num_requests_running",),
    "waiting": ("vllm:num_requests_waiting",),
    "kv_cache": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    "prefix_queries": ("vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"),
    "prefix_hits": ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"),
    "generation_tokens": ("vllm:generation_tokens_total",),
    "prompt_tokens": ("vllm:prompt_tokens_total",),
}
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eEinfNa]+)")


@dataclass(frozen=True)
class VllmMetrics:
    taken_at: float
    requests_running: float | None
    requests_waiting: float | None
    kv_cache_usage: float | None
    prefix_cache_queries: float | None
    prefix_cache_hits: float | None
    generation_tokens: float | None
    prompt_tokens: float | None

    @property
    def prefix_cache_hit_rate(self) -> float | None:
        """Since the server started (the counters are cumulative)."""
        if not self.prefix_cache_queries:
            return None
        return (self.prefix_cache_hits or 0) / self.prefix_cache_queries


def server_root(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def parse_metrics(text: str, taken_at: float | None = None) -> VllmMetrics:
    """Sum each metric over its label sets (several models or engines)."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            name, _, value = match.groups()
            try:
                totals[name] = totals.get(name, 0.0) + float(value)
            except ValueError:
                continue

    def pick(key: str) -> float | None:
        return next((totals[name] for name in _NAMES[key] if name in totals), None)

    return VllmMetrics(
        taken_at=time.monotonic() if taken_at is None else taken_at,
        requests_running=pick("running"),
        requests_waiting=pick("waiting"),
        kv_cache_usage=pick("kv_cache"),
        prefix_cache_queries=pick("prefix_queries"),
        prefix_cache_hits=pick("prefix_hits"),
        generation_tokens=pick("generation_tokens"),
        prompt_tokens=pick("prompt_tokens"),
    )


def generation_throughput(before: VllmMetrics, after: VllmMetrics) -> float | None:
    """Generated tokens per second between two samples."""
    elapsed = after.taken_at - before.taken_at
    if elapsed <= 0 or before.generation_tokens is None or after.generation_tokens is None:
        return None
    return max(0.0, after.generation_tokens - before.generation_tokens) / elapsed


def window_hit_rate(before: VllmMetrics, after: VllmMetrics) -> float | None:
    """Prefix-cache hit rate between two samples: rate(hits) / rate(queries)."""
    if None in (before.prefix_cache_queries, after.prefix_cache_queries):
        return None
    queries = after.prefix_cache_queries - before.prefix_cache_queries
    hits = (after.prefix_cache_hits or 0) - (before.prefix_cache_hits or 0)
    return hits / queries if queries > 0 else None


async def health(base_url: str, client: httpx2.AsyncClient | None = None) -> bool:
    async with _client(client) as http:
        try:
            response = await http.get(f"{server_root(base_url)}/health")
        except httpx2.HTTPError:
            return False
        return response.status_code == 200


async def metrics(base_url: str, client: httpx2.AsyncClient | None = None) -> VllmMetrics:
    async with _client(client) as http:
        response = await http.get(f"{server_root(base_url)}/metrics")
        response.raise_for_status()
        return parse_metrics(response.text)


class _client:
    """Use the given client, or a short-lived one from the shared factory."""

    def __init__(self, client: httpx2.AsyncClient | None):
        self._given = client
        self._own: httpx2.AsyncClient | None = None

    async def __aenter__(self) -> httpx2.AsyncClient:
        if self._given is not None:
            return self._given
        self._own = make_client(read_timeout_s=10.0)
        return self._own

    async def __aexit__(self, *exc) -> None:
        if self._own is not None:
            await self._own.aclose()
