"""Deterministic Google Gemini (native ``generateContent``) simulator, a raw ASGI app.

The Gemini-protocol sibling of the OpenAI-compatible simulator one package up: same prose, pacing and
fault options, Google's wire shapes (WIRE-FORMATS.md §5). See ``providers.simulator.gemini.app.create_app``.
"""

from __future__ import annotations

from providers.simulator.gemini.app import GeminiSimulatorApp, create_app

__all__ = ["GeminiSimulatorApp", "create_app"]
