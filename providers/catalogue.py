"""Models each hosted provider offers out of the box, with list prices and where they came from.

Prices are US dollars per million tokens (../shared/WIRE-FORMATS.md §6). A model can have several
prices: each is in force from its date until the next, so old responses keep the cost they had.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PriceSeed:
    input: str
    cached_input: str
    output: str
    effective_from: str
    source: str
    cache_write: str | None = None


@dataclass(frozen=True)
class ModelSeed:
    name: str
    display_name: str
    reasoning: bool = False
    context_window: int | None = None
    prices: tuple[PriceSeed, ...] = ()


_DEEPSEEK_V32 = PriceSeed("0.28", "0.028", "0.42", "2025-12-01", "api-docs.deepseek.com pricing (V3.2)")
_DEEPSEEK_V4_FLASH = PriceSeed(
    "0.14", "0.0028", "0.28", "2026-04-24", "api-docs.deepseek.com pricing (V4-Flash), 2026-04-26"
)

CATALOGUE: dict[str, tuple[ModelSeed, ...]] = {
    "openai": (
        ModelSeed(
            "gpt-5.5",
            "GPT-5.5",
            reasoning=True,
            context_window=400_000,
            prices=(PriceSeed("5", "0.5", "30", "2026-04-24", "OpenAI pricing via genai-prices 2026-04-24"),),
        ),
        ModelSeed(
            "gpt-5.4-mini",
            "GPT-5.4 mini",
            reasoning=True,
            context_window=400_000,
            prices=(PriceSeed("0.75", "0.075", "4.5", "2026-03-18", "OpenAI pricing via genai-prices 2026-03-18"),),
        ),
    ),
    "deepseek": (
        ModelSeed(
            "deepseek-chat", "DeepSeek Chat", context_window=1_000_000, prices=(_DEEPSEEK_V32, _DEEPSEEK_V4_FLASH)
        ),
        ModelSeed(
            "deepseek-reasoner",
            "DeepSeek Reasoner",
            reasoning=True,
            context_window=1_000_000,
            prices=(_DEEPSEEK_V32, _DEEPSEEK_V4_FLASH),
        ),
    ),
}
