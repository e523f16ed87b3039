"""The models the simulator serves, with their simulated speed and answer length."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimulatedModel:
    id: str
    display_name: str
    reasoning: bool
    ttft_ms: int
    tokens_per_s: float
    length: int


MODELS: tuple[SimulatedModel, ...] = (
    SimulatedModel(
        id="sim-swift",
        display_name="Simulator · Swift",
        reasoning=False,
        ttft_ms=120,
        tokens_per_s=60.0,
        length=120,
    ),
    SimulatedModel(
        id="sim-steady",
        display_name="Simulator · Steady",
        reasoning=False,
        ttft_ms=400,
        tokens_per_s=25.0,
        length=80,
    ),
    SimulatedModel(
        id="sim-reasoner",
        display_name="Simulator · Reasoner",
        reasoning=True,
        ttft_ms=300,
        tokens_per_s=40.0,
        length=100,
    ),
)

_BY_ID = {model.id: model for model in MODELS}


def get(model_id: str) -> SimulatedModel | None:
    return _BY_ID.get(model_id)
