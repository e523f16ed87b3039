"""Money cost of one response, from normalised usage and the price in force when it ran."""

from __future__ import annotations

from decimal import Decimal

from providers.base import Usage
from providers.models import Price

PER_TOKEN = Decimal(1_000_000)


def cost_of(usage: Usage, price: Price | None) -> Decimal | None:
    if price is None:
        return None
    cached = min(usage.cached_input_tokens, usage.input_tokens)
    written = min(usage.cache_write_tokens, usage.input_tokens - cached)
    fresh = usage.input_tokens - cached - written
    write_price = price.cache_write if price.cache_write is not None else price.input
    total = (
        fresh * price.input + cached * price.cached_input + written * write_price + usage.output_tokens * price.output
    )
    return (total / PER_TOKEN).quantize(Decimal("1e-10"))
