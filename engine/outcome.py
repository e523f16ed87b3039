"""How a run ended, and the figures it leaves on its node."""

from __future__ import annotations

from dataclasses import dataclass

from canvas.models import NodeStatus
from providers.base import Message, ProviderError, Usage


@dataclass(frozen=True)
class Outcome:
    status: str
    text: str
    reasoning: str
    seq: int
    usage: Usage
    finish_reason: str | None = None
    error: ProviderError | None = None
    ttft_ms: int | None = None
    duration_ms: int | None = None
    slot_wait_ms: int = 0  # waiting for a free provider slot, counted as queue time

    @property
    def tokens_per_s(self) -> float | None:
        if self.ttft_ms is None or self.duration_ms is None or not self.usage.output_tokens:
            return None
        generating_s = (self.duration_ms - self.ttft_ms) / 1000
        return round(self.usage.output_tokens / generating_s, 2) if generating_s > 0 else None

    @property
    def is_error(self) -> bool:
        return self.status == NodeStatus.ERROR


def estimate_tokens(text: str) -> int:
    """About four characters a token for English prose: only used when a provider reports no usage."""
    return (len(text) + 3) // 4


def estimated_usage(messages: tuple[Message, ...], text: str, reasoning: str) -> Usage:
    return Usage(
        input_tokens=sum(estimate_tokens(m.content) + 4 for m in messages),
        output_tokens=estimate_tokens(text) + estimate_tokens(reasoning),
        reasoning_tokens=estimate_tokens(reasoning),
        estimated=True,
    )
