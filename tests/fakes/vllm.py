"""A vLLM server as Prism watches it: the simulator's OpenAI API and vLLM-style /metrics, with a /health
that fails on demand, figures a test sets, a restart that sets every counter back to zero, and, when
`busy`, figures that move on every read of /metrics (requests come and go, the counters grow), as a
server under load does."""

from __future__ import annotations

from providers.simulator.app import SimulatorApp
from providers.simulator.metrics import ServerStats
from providers.simulator.respond import send_json


class VllmServerApp(SimulatorApp):
    def __init__(self, *, busy: bool = False, legacy_metrics: bool = False) -> None:
        super().__init__(legacy_metrics=legacy_metrics)
        self.busy = busy
        self.health_status = 200  # what /health answers: vLLM answers 200, or an error once its engine died
        self.metrics_reads = 0

    def set(self, **figures: float) -> None:
        """Set the figures /metrics shows: running, waiting, kv_cache_usage (0-1), prompt_tokens,
        generation_tokens, prefix_queries, prefix_hits."""
        for name, value in figures.items():
            if not hasattr(self.stats, name):
                raise AttributeError(name)
            setattr(self.stats, name, value)

    def restart(self) -> None:
        """As a restarted server: every counter from zero."""
        self.stats = ServerStats()

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == "/health" and self.health_status != 200:
            await send_json(send, self.health_status, {"error": "EngineDeadError"}, [])
            return
        if path == "/metrics":
            self.metrics_reads += 1
            if self.busy:
                self._move(self.metrics_reads)
        await super().__call__(scope, receive, send)

    def _move(self, n: int) -> None:
        stats = self.stats
        stats.running = n % 4 + 1
        stats.waiting = n % 3
        stats.kv_cache_usage = (n % 10) / 10
        stats.generation_tokens += 400 + 100 * (n % 5)
        stats.prompt_tokens += 1000
        stats.prefix_queries += 1000
        stats.prefix_hits += 500 + 50 * (n % 5)


def create_app(*, busy: bool = False, legacy_metrics: bool = False) -> VllmServerApp:
    return VllmServerApp(busy=busy, legacy_metrics=legacy_metrics)
