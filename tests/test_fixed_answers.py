"""Each protocol's answer, whole and cut mid-stream, against fixed text: the other tests compute what to
expect from the simulators' own plans, so a fault shared by a simulator and the code reading it would
pass them all; these would not."""

from __future__ import annotations

from typing import Any

import pytest

from providers.adapters.anthropic import AnthropicAdapter
from providers.adapters.gemini import GeminiAdapter
from providers.adapters.openai_compat import OpenAICompatAdapter
from providers.base import AccountConfig, ChatRequest, Message
from tests.fakes import openai_compat as openai_fake
from tests.fakes.anthropic import app as anthropic_fake
from tests.fakes.gemini import app as gemini_fake
from tests.fakes.server import serve

pytestmark = pytest.mark.asyncio

KEY = "sk-fixed-answers-0123456789"
MESSAGES = (Message("user", "Name three rivers of Europe"),)
FAST = {"ttft_ms": 0, "tokens_per_s": 0}

PROTOCOLS = {
    "openai_compat": (openai_fake.create_app, "/v1", OpenAICompatAdapter, "simulator", "sim-swift"),
    "anthropic": (anthropic_fake.create_app, "", AnthropicAdapter, "anthropic", "claude-haiku-5-5"),
    "gemini": (gemini_fake.create_app, "", GeminiAdapter, "gemini", "gemini-2.5-flash-lite"),
}

WHOLE = {
    "openai_compat": "In provider moves again small because sample. While writes although cost language.",
    "anthropic": (
        "Paragraph budget error explains process **apart**. Steady practice estimate prefix improves question."
    ),
    "gemini": "Steady value, in from signal moves. Within rare, answer which becomes queue.",
}
CUT = {
    "openai_compat": "In provider moves again small ",
    "anthropic": "Paragraph budget error explains process ",
    "gemini": "Steady value, in from signal ",
}


async def _stream(protocol: str, simulator: dict[str, Any]) -> tuple[str, list[str]]:
    create_app, suffix, adapter_class, kind, model = PROTOCOLS[protocol]
    with serve(create_app(api_key=KEY)) as base_url:
        adapter = adapter_class(AccountConfig(kind=kind, base_url=base_url + suffix, api_key=KEY))
        try:
            events = [
                e async for e in adapter.stream(ChatRequest(model, MESSAGES, {"simulator": {**FAST, **simulator}}))
            ]
        finally:
            await adapter.aclose()
    text = "".join(e.text for e in events if e.kind == "text")
    return text, [e.error.code for e in events if e.kind == "error"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_whole_answer_is_the_fixed_text(protocol: str) -> None:
    assert await _stream(protocol, {"length": 12}) == (WHOLE[protocol], [])


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_answer_cut_mid_stream_keeps_the_fixed_first_tokens(protocol: str) -> None:
    assert await _stream(protocol, {"length": 12, "fail": {"cut_after": 5}}) == (CUT[protocol], ["stream_cut"])
