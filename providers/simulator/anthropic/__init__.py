"""Deterministic Anthropic Messages API simulator (a raw ASGI app), the Claude twin of the
OpenAI-compatible one: same text generator, pacing and fault options, Anthropic's wire shapes.
See ``providers.simulator.anthropic.app.create_app``.
"""
