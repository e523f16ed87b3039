"""Deterministic Google Gemini (native ``generateContent``) simulator, a raw ASGI app.

The Gemini-protocol sibling of the app's OpenAI-compatible simulator (providers/simulator/): same prose,
pacing and fault options, Google's wire shapes (WIRE-FORMATS.md §5). Used only by tests; see
``tests.fakes.gemini.app.create_app``.
"""
