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
    default_params: dict | None = None


_DEEPSEEK_V32 = PriceSeed("0.28", "0.028", "0.42", "2025-12-01", "api-docs.deepseek.com pricing (V3.2), Dec 2025")
# deepseek-chat / deepseek-reasoner moved to V4-Flash around 2026-04-24; the cache-hit price was cut
# tenfold on 2026-04-26, so that day starts a second price.
_DEEPSEEK_V4_FLASH_LAUNCH = PriceSeed(
    "0.14", "0.028", "0.28", "2026-04-24", "api-docs.deepseek.com pricing (V4-Flash launch), 2026-04-24"
)
_DEEPSEEK_V4_FLASH = PriceSeed(
    "0.14", "0.0028", "0.28", "2026-04-26", "api-docs.deepseek.com pricing (V4-Flash), snapshot 2026-04-26"
)
_DEEPSEEK_ALIAS_PRICES = (_DEEPSEEK_V32, _DEEPSEEK_V4_FLASH_LAUNCH, _DEEPSEEK_V4_FLASH)
# Gemini sends thought summaries only when asked.
_SHOW_THOUGHTS = {"include_thoughts": True}
_CLAUDE_SOURCE = "platform.claude.com pricing; genai-prices checked 2026-07-29"

CATALOGUE: dict[str, tuple[ModelSeed, ...]] = {
    "openai": (
        ModelSeed(
            "gpt-5.5",
            "GPT-5.5",
            reasoning=True,
            context_window=400_000,
            prices=(PriceSeed("5", "0.5", "30", "2026-04-24", "OpenAI pricing via genai-prices, 2026-04-24"),),
        ),
        ModelSeed(
            "gpt-5.4-mini",
            "GPT-5.4 mini",
            reasoning=True,
            context_window=400_000,
            prices=(PriceSeed("0.75", "0.075", "4.5", "2026-03-18", "OpenAI pricing via genai-prices, 2026-03-18"),),
        ),
    ),
    "deepseek": (
        ModelSeed("deepseek-chat", "DeepSeek Chat", context_window=1_000_000, prices=_DEEPSEEK_ALIAS_PRICES),
        ModelSeed(
            "deepseek-reasoner",
            "DeepSeek Reasoner",
            reasoning=True,
            context_window=1_000_000,
            prices=_DEEPSEEK_ALIAS_PRICES,
        ),
        ModelSeed(
            "deepseek-v4-flash",
            "DeepSeek V4 Flash",
            context_window=1_000_000,
            prices=(_DEEPSEEK_V4_FLASH_LAUNCH, _DEEPSEEK_V4_FLASH),
        ),
        ModelSeed(
            "deepseek-v4-pro",
            "DeepSeek V4 Pro",
            context_window=1_000_000,
            prices=(
                PriceSeed(
                    "0.435",
                    "0.003625",
                    "0.87",
                    "2026-04-24",
                    "api-docs.deepseek.com pricing (V4-Pro, 75% off list), ~May 2026",
                ),
            ),
        ),
    ),
    "anthropic": (
        ModelSeed(
            "claude-opus-4-6",
            "Claude Opus 4.6",
            reasoning=True,
            context_window=1_000_000,
            prices=(PriceSeed("5", "0.5", "25", "2026-03-13", _CLAUDE_SOURCE, cache_write="6.25"),),
        ),
        ModelSeed(
            "claude-sonnet-4-6",
            "Claude Sonnet 4.6",
            reasoning=True,
            context_window=1_000_000,
            prices=(PriceSeed("3", "0.3", "15", "2026-03-13", _CLAUDE_SOURCE, cache_write="3.75"),),
        ),
        ModelSeed(
            "claude-haiku-5-5",
            "Claude Haiku 5.5",
            reasoning=True,
            context_window=200_000,
            prices=(
                PriceSeed(
                    "0.1",
                    "0.01",
                    "0.5",
                    "2026-10-07",
                    "platform.claude.com haiku-5-5 overview 2026-10-07 (cache prices unverified)",
                    cache_write="0.125",
                ),
            ),
        ),
    ),
    "gemini": (
        ModelSeed(
            "gemini-3.1-pro-preview",
            "Gemini 3.1 Pro",
            reasoning=True,
            context_window=1_000_000,
            default_params=_SHOW_THOUGHTS,
            prices=(
                PriceSeed("2", "0.2", "12", "2026-02-23", "ai.google.dev pricing via genai-prices, 2026-02-23 (≤200K)"),
            ),
        ),
        ModelSeed(
            "gemini-3.5-flash",
            "Gemini 3.5 Flash",
            reasoning=True,
            context_window=1_000_000,
            default_params=_SHOW_THOUGHTS,
            prices=(PriceSeed("1.5", "0.15", "9", "2026-05-19", "ai.google.dev pricing via genai-prices, 2026-05-19"),),
        ),
    ),
}
