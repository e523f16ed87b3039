"""vLLM-style Prometheus metrics for the simulator, in the current or the pre-0.11 names."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from providers.simulator.text import count_tokens

MODEL_LABEL = 'model_name="simulated",engine="0"'


@dataclass
class ServerStats:
    running: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    prefix_queries: int = 0
    prefix_hits: int = 0
    requests_finished: int = 0
    waiting: int = 0
    kv_cache_usage: float | None = None  # None: derived from the requests running
    _seen_prefixes: set[str] = field(default_factory=set)

    def record_prompt(self, messages: list) -> None:
        """Count the prompt and how much of it an automatic prefix cache would have held."""
        tokens = [count_tokens(str(m.get("content", ""))) if isinstance(m, dict) else 0 for m in messages]
        hit = 0
        for end in range(1, len(messages) + 1):
            key = hashlib.sha256(json.dumps(messages[:end], sort_keys=True, default=str).encode()).hexdigest()
            if key in self._seen_prefixes:
                hit = sum(tokens[:end])
            self._seen_prefixes.add(key)
        total = sum(tokens)
        self.prompt_tokens += total
        self.prefix_queries += total
        self.prefix_hits += min(hit, total)


def prometheus_text(stats: ServerStats, legacy: bool = False) -> str:
    kv_usage = min(1.0, stats.running * 0.02) if stats.kv_cache_usage is None else stats.kv_cache_usage
    cache_gauge = "vllm:gpu_cache_usage_perc" if legacy else "vllm:kv_cache_usage_perc"
    queries = "vllm:gpu_prefix_cache_queries_total" if legacy else "vllm:prefix_cache_queries_total"
    hits = "vllm:gpu_prefix_cache_hits_total" if legacy else "vllm:prefix_cache_hits_total"
    rows = [
        ("vllm:num_requests_running", "gauge", stats.running),
        ("vllm:num_requests_waiting", "gauge", stats.waiting),
        (cache_gauge, "gauge", kv_usage),
        (queries, "counter", stats.prefix_queries),
        (hits, "counter", stats.prefix_hits),
        ("vllm:prompt_tokens_total", "counter", stats.prompt_tokens),
        ("vllm:generation_tokens_total", "counter", stats.generation_tokens),
    ]
    lines = []
    for name, kind, value in rows:
        lines.append(f"# HELP {name} Simulated.")
        lines.append(f"# TYPE {name} {kind}")
        lines.append(f"{name}{{{MODEL_LABEL}}} {float(value)}")
    lines.append(f'vllm:request_success_total{{finished_reason="stop",{MODEL_LABEL}}} {float(stats.requests_finished)}')
    return "\n".join(lines) + "\n"
