"""Money cost of one response: normalised usage × the price in force (USD per million tokens)."""

from __future__ import annotations

from decimal import Decimal

from engine.cost import cost_of
from providers.base import Usage
from providers.models import Price


def price(input: str, cached_input: str, output: str, cache_write: str | None = None) -> Price:
    """An unsaved price row: cost_of only reads its figures."""
    return Price(
        input=Decimal(input),
        cached_input=Decimal(cached_input),
        cache_write=None if cache_write is None else Decimal(cache_write),
        output=Decimal(output),
    )


def test_there_is_no_cost_without_a_price() -> None:
    assert cost_of(Usage(input_tokens=1000, output_tokens=1000), None) is None


def test_fresh_input_and_output_are_billed_at_their_prices() -> None:
    cost = cost_of(Usage(input_tokens=1_000_000, output_tokens=500_000), price("2", "0.2", "8"))
    assert cost == Decimal("6")  # 1M × $2 + 0.5M × $8


def test_cached_tokens_are_billed_at_the_cached_price() -> None:
    usage = Usage(input_tokens=1_000_000, cached_input_tokens=600_000)
    assert cost_of(usage, price("2", "0.2", "8")) == Decimal("0.92")  # 0.4M × 2 + 0.6M × 0.2


def test_cache_writes_are_billed_at_the_cache_write_price() -> None:
    usage = Usage(input_tokens=1_000_000, cached_input_tokens=200_000, cache_write_tokens=300_000)
    # GPT-5.6 Terra (WIRE-FORMATS §6): 2.00 in / 0.20 cached / 2.50 write / 12 out.
    cost = cost_of(usage, price("2", "0.2", "12", cache_write="2.5"))
    assert cost == Decimal("0.5") * 2 + Decimal("0.2") * Decimal("0.2") + Decimal("0.3") * Decimal("2.5")


def test_cache_writes_are_billed_as_input_without_a_cache_write_price() -> None:
    usage = Usage(input_tokens=1_000_000, cache_write_tokens=300_000)
    assert cost_of(usage, price("2", "0.2", "12")) == Decimal("2")


def test_output_includes_reasoning_and_reasoning_is_not_billed_twice() -> None:
    with_reasoning = Usage(output_tokens=1_000_000, reasoning_tokens=800_000)
    assert cost_of(with_reasoning, price("1", "0.1", "4")) == Decimal("4")


def test_the_deepseek_example_costs_what_the_page_says() -> None:
    # WIRE-FORMATS §3: 1000 prompt (800 cache hits), 310 completion (280 reasoning), at V3.2 prices
    # hit $0.028, miss $0.28, output $0.42: 200 × 0.28 + 800 × 0.028 + 310 × 0.42 = 208.6 per million.
    usage = Usage(input_tokens=1000, cached_input_tokens=800, output_tokens=310, reasoning_tokens=280)
    assert cost_of(usage, price("0.28", "0.028", "0.42")) == Decimal("0.0002086")


def test_the_openai_example_costs_what_the_page_says() -> None:
    # WIRE-FORMATS §1 with gpt-5-mini's §6 prices ($0.25 / $0.025 cached / $2.00 out): 1200 prompt with
    # 1024 cached, 350 completion (192 reasoning): 176 × 0.25 + 1024 × 0.025 + 350 × 2 = 769.6 per million.
    usage = Usage(input_tokens=1200, cached_input_tokens=1024, output_tokens=350, reasoning_tokens=192)
    assert cost_of(usage, price("0.25", "0.025", "2.00")) == Decimal("0.0007696")


def test_costs_have_the_stored_precision() -> None:
    cost = cost_of(Usage(input_tokens=3, output_tokens=7), price("0.28", "0.028", "0.42"))
    assert cost == Decimal("0.0000037800") and cost.as_tuple().exponent == -10  # Node.cost: 10 places
