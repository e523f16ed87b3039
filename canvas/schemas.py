"""Request and response shapes of the API, which also make up its OpenAPI document."""

from __future__ import annotations

from typing import Literal

from ninja import Field, Schema


class PricesOut(Schema):
    input: str
    cached_input: str
    cache_write: str | None
    output: str
    effective_from: str


class ModelOut(Schema):
    id: str
    provider_kind: Literal["openai", "deepseek", "vllm", "anthropic", "gemini", "openai_compatible", "simulator"]
    provider: str
    model: str
    display_name: str
    reasoning: bool
    simulated: bool
    context_window: int | None
    prices: PricesOut | None


class ErrorOut(Schema):
    code: str
    message: str


class MetricsOut(Schema):
    queue_ms: int | None
    ttft_ms: int | None
    duration_ms: int | None
    tokens_per_s: float | None
    input_tokens: int | None
    cached_input_tokens: int | None
    output_tokens: int | None
    reasoning_tokens: int | None
    usage_estimated: bool


class NodeOut(Schema):
    id: str
    canvas: str
    kind: Literal["prompt", "response", "note"]
    parents: list[str]
    x: float
    y: float
    w: float
    h: float
    text: str
    created_at: str
    model: str | None = None
    status: Literal["queued", "streaming", "done", "error", "cancelled", "interrupted"] | None = None
    finish_reason: Literal["stop", "length", "content_filter"] | None = None
    reasoning: str | None = None
    seq: int | None = None
    error: ErrorOut | None = None
    metrics: MetricsOut | None = None
    cost: str | None = Field(None, description="US dollars as a decimal string; null when the model has no price.")


class CanvasOut(Schema):
    id: str
    title: str
    team: str
    created_at: str
    updated_at: str


class CanvasWithNodes(CanvasOut):
    nodes: list[NodeOut]


class CanvasIn(Schema):
    title: str = Field(..., min_length=1, max_length=200)
    team: str | None = None


class PromptIn(Schema):
    text: str = Field(..., min_length=1, max_length=200_000)
    models: list[str] = Field(..., min_length=1)
    parents: list[str] = Field(default_factory=list, max_length=100)
    x: float | None = None
    y: float | None = None


class PromptOut(Schema):
    prompt: NodeOut
    responses: list[NodeOut]
