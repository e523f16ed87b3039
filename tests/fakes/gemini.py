"""Gemini fake provider: the Gemini-protocol simulator itself, which is wire-accurate by design."""

from __future__ import annotations

from providers.simulator.gemini.app import GeminiSimulatorApp, create_app

__all__ = ["GeminiSimulatorApp", "create_app"]
