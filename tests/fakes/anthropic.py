"""Anthropic Messages fake provider: the Anthropic simulator itself, which is wire-accurate by design."""

from __future__ import annotations

from providers.simulator.anthropic.app import AnthropicSimulatorApp, create_app

__all__ = ["AnthropicSimulatorApp", "create_app"]
