"""One mapping from an HTTP status to an error, the same for every protocol: each simulator answers with
the status (and the error body its provider sends with it), and each adapter, through its SDK, names
the same failure."""

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

PROTOCOLS = {
    "openai_compat": (openai_fake.create_app, "/v1", OpenAICompatAdapter, "simulator", "sim-swift"),
    "anthropic": (anthropic_fake.create_app, "", AnthropicAdapter, "anthropic", "claude-haiku-5-5"),
    "gemini": (gemini_fake.create_app, "", GeminiAdapter, "gemini", "gemini-2.5-flash-lite"),
}
# status → (code, retryable), whatever the protocol.
BY_STATUS = {
    400: ("bad_request", False),
    401: ("auth", False),
    403: ("auth", False),
    408: ("timeout", True),
    429: ("rate_limited", True),
    500: ("server", True),
    502: ("server", True),
    503: ("overloaded", True),
    504: ("timeout", True),
    529: ("overloaded", True),
}


@pytest.fixture(scope="module", params=PROTOCOLS)
def provider(request) -> Any:
    create_app, suffix, adapter_class, kind, model = PROTOCOLS[request.param]
    with serve(create_app()) as base_url:
        yield adapter_class, AccountConfig(kind=kind, base_url=base_url + suffix, api_key="sk-errors"), model


@pytest.mark.parametrize("status", BY_STATUS)
async def test_a_status_is_the_same_error_for_every_protocol(provider, status: int) -> None:
    adapter_class, account, model = provider
    adapter = adapter_class(account)
    params = {"simulator": {"ttft_ms": 0, "tokens_per_s": 0, "fail": {"status": status}}}
    try:
        events = [e async for e in adapter.stream(ChatRequest(model, (Message("user", "Hello"),), params))]
    finally:
        await adapter.aclose()
    assert [e.kind for e in events] == ["error"]
    assert (events[0].error.code, events[0].error.retryable) == BY_STATUS[status]
