"""Deterministic OpenAI-compatible chat-completions simulator (a raw ASGI app).

Used by the running app (mounted under a URL prefix) as a zero-cost provider and by tests as a
wire-accurate fake. See ``providers.simulator.app.create_app``.
"""
