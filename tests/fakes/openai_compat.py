"""OpenAI-compatible fake provider: the simulator itself, which is wire-accurate by design."""

from __future__ import annotations

from providers.simulator.app import SimulatorApp, create_app

__all__ = ["SimulatorApp", "create_app"]
