"""Prices for self-hosted models, derived from what the GPU costs per hour.

A GPU is paid by the hour whatever it does; at a sustained output throughput of T tokens per second
across all requests, a million output tokens take 1e6 / T seconds of it. Prefill is far cheaper per
token than decoding, so input is billed at a tenth of the output rate and prefix-cache hits at a
hundredth (the assumption is written into each derived price's source).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from providers.models import Price, ProviderAccount

INPUT_SHARE = Decimal("0.1")
CACHED_SHARE = Decimal("0.01")
_PLACES = Decimal("0.000001")


def output_price_per_million(hourly_cost: Decimal, tokens_per_s: float) -> Decimal:
    if tokens_per_s <= 0:
        raise ValueError("The throughput must be positive.")
    seconds_per_million = Decimal(1_000_000) / Decimal(str(tokens_per_s))
    return (hourly_cost * seconds_per_million / Decimal(3600)).quantize(_PLACES, ROUND_HALF_UP)


def derived_price(hourly_cost: Decimal, tokens_per_s: float, **fields) -> Price:
    """The price a GPU costing `hourly_cost` an hour at `tokens_per_s` output tokens a second comes to, per
    million tokens (not saved: `fields` such as model and effective_from complete it)."""
    output = output_price_per_million(hourly_cost, tokens_per_s)
    return Price(
        input=(output * INPUT_SHARE).quantize(_PLACES),
        cached_input=(output * CACHED_SHARE).quantize(_PLACES),
        output=output,
        **fields,
    )


def derive_prices(account: ProviderAccount) -> list[Price]:
    """A new price, in force from now, for every model of a self-hosted account."""
    if account.gpu_hourly_cost is None or not account.gpu_tokens_per_s:
        raise ValueError(f"{account.name}: set both the GPU's hourly cost and its throughput first.")
    source = (
        f"derived: ${account.gpu_hourly_cost}/h at {account.gpu_tokens_per_s:g} output tok/s; "
        f"input at {INPUT_SHARE} and cache hits at {CACHED_SHARE} of the output rate"
    )
    now = timezone.now()
    prices = [
        derived_price(account.gpu_hourly_cost, account.gpu_tokens_per_s, model=model, effective_from=now, source=source)
        for model in account.models.all()
    ]
    for price in prices:
        price.save(force_insert=True)
    return prices
