"""Deterministic Anthropic Messages API simulator (a raw ASGI app), the Claude twin of the app's
OpenAI-compatible one (providers/simulator/): same text generator, pacing and fault options, Anthropic's
wire shapes. Used only by tests; see ``tests.fakes.anthropic.app.create_app``.
"""
