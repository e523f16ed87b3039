"""The Claude-looking models the Anthropic simulator serves. Thinking happens when a request asks for it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimulatedClaude:
    id: str
    display_name: str
    created_at: str
    ttft_ms: int
    tokens_per_s: float
    length: int
    context_window: int
    max_output_tokens: int


MODELS: tuple[SimulatedClaude, ...] = (
    SimulatedClaude(
        id="claude-sonnet-4-6",
        display_name="Claude Sonnet 4.6 (simulated)",
        created_at="2026-02-17T00:00:00Z",
        ttft_ms=350,
        tokens_per_s=55.0,
        length=110,
        context_window=1_000_000,
        max_output_tokens=64_000,
    ),
    SimulatedClaude(
        id="claude-haiku-5-5",
        display_name="Claude Haiku 5.5 (simulated)",
        created_at="2026-06-02T00:00:00Z",
        ttft_ms=150,
        tokens_per_s=110.0,
        length=80,
        context_window=200_000,
        max_output_tokens=64_000,
    ),
)

_BY_ID = {model.id: model for model in MODELS}


def get(model_id: str) -> SimulatedClaude | None:
    return _BY_ID.get(model_id)
