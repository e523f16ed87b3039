"""The Gemini models the simulator serves, with their simulated speed, answer length and thinking."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GeminiModel:
    id: str
    display_name: str
    version: str
    description: str
    thinking: bool  # thinks by default (thoughts are billed even when not returned)
    thinking_required: bool  # a thinking budget of 0 is rejected, as on the Pro models
    ttft_ms: int
    tokens_per_s: float
    length: int
    thoughts_length: int
    input_token_limit: int = 1_048_576
    output_token_limit: int = 65_536


MODELS: tuple[GeminiModel, ...] = (
    GeminiModel(
        id="gemini-3.5-flash",
        display_name="Gemini 3.5 Flash",
        version="3.5",
        description="Simulated Gemini 3.5 Flash: fast, thinks briefly.",
        thinking=True,
        thinking_required=False,
        ttft_ms=250,
        tokens_per_s=120.0,
        length=120,
        thoughts_length=30,
    ),
    GeminiModel(
        id="gemini-3.1-pro-preview",
        display_name="Gemini 3.1 Pro Preview",
        version="3.1-pro-preview-01-2026",
        description="Simulated Gemini 3.1 Pro: slower, thinks at length before answering.",
        thinking=True,
        thinking_required=True,
        ttft_ms=600,
        tokens_per_s=60.0,
        length=140,
        thoughts_length=80,
    ),
    GeminiModel(
        id="gemini-2.5-flash-lite",
        display_name="Gemini 2.5 Flash-Lite",
        version="001",
        description="Simulated Gemini 2.5 Flash-Lite: no thinking unless a budget is set.",
        thinking=False,
        thinking_required=False,
        ttft_ms=150,
        tokens_per_s=150.0,
        length=100,
        thoughts_length=40,
    ),
)

_BY_ID = {model.id: model for model in MODELS}


def get(model_id: str) -> GeminiModel | None:
    return _BY_ID.get(model_id.removeprefix("models/"))
