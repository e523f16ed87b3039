"""Generation settings per model (temperature, max_tokens, reasoning_effort): checked, kept on the
response node, and sent as each protocol spells them.

The wire tests are real runs against each protocol's simulator over HTTP (as in test_context_wire):
what a simulator records is what the provider would have read, and the context preview shows the same.
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async

from canvas.models import Node
from engine.preview import preview
from engine.runner import run_response
from providers.models import Model, ProviderAccount
from tests.test_context_wire import anthropic_server, gemini_server, no_default_system_prompt, wire  # noqa: F401

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_runner_connections"),
]


def post(client, path: str, body):
    return client.post(path, json.dumps(body), content_type="application/json")


async def run_with(
    wire,  # noqa: F811
    protocol: str,
    settings: dict,
) -> dict:
    """One prompt to `protocol`'s model with these settings, run to its end: the body its simulator got."""
    from canvas.services import create_prompt

    model = wire.models[protocol]
    _, [response], _ = await sync_to_async(create_prompt)(
        wire.canvas, wire.user, "Hello", [model], [], params=[settings]
    )
    await run_response(str(response.id))
    node = await sync_to_async(Node.objects.get)(id=response.id)
    assert node.status == "done", (node.error_code, node.error_message)
    assert node.params == settings
    shown = await sync_to_async(preview)(wire.canvas, [], "Hello", model, settings)
    if protocol == "anthropic":
        return wire.anthropic.recent_requests[-1], shown
    if protocol == "gemini":
        return wire.gemini.recent_requests[-1]["body"], shown
    return wire.openai.recent_requests[-1], shown


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini"])
async def test_temperature_and_length_reach_each_protocol_as_it_names_them(wire, protocol):  # noqa: F811
    body, shown = await run_with(wire, protocol, {"temperature": 0.3, "max_tokens": 321})
    if protocol == "gemini":
        config = body["generationConfig"]
        assert config["temperature"] == 0.3 and config["maxOutputTokens"] == 321
        assert shown["params"] == {"generationConfig": {"temperature": 0.3, "maxOutputTokens": 321}}
    else:
        # The simulator's account is OpenAI-compatible (not OpenAI itself): the limit is max_tokens.
        assert body["temperature"] == 0.3 and body["max_tokens"] == 321
        assert "max_completion_tokens" not in body
        assert shown["params"] == {"temperature": 0.3, "max_tokens": 321}


async def test_openai_itself_takes_the_length_as_max_completion_tokens_with_the_effort(wire):  # noqa: F811
    simulator = await sync_to_async(lambda: wire.models["openai"].account)()
    account = await sync_to_async(ProviderAccount.objects.create)(
        name="OpenAI", kind="openai", base_url=simulator.base_url
    )
    wire.models["openai"] = await sync_to_async(Model.objects.create)(
        account=account,
        name="sim-reasoner",
        display_name="o-sim",
        reasoning=True,
        default_params={"simulator": {"ttft_ms": 0, "tokens_per_s": 0, "length": 6}},
    )
    body, shown = await run_with(wire, "openai", {"max_tokens": 900, "reasoning_effort": "high"})
    assert body["max_completion_tokens"] == 900 and body["reasoning_effort"] == "high"
    assert "max_tokens" not in body
    assert shown["params"] == {"max_completion_tokens": 900, "reasoning_effort": "high"}


async def test_anthropic_thinks_with_a_budget_and_leaves_temperature_out(wire):  # noqa: F811
    model = wire.models["anthropic"]
    model.reasoning = True
    await sync_to_async(model.save)()
    body, shown = await run_with(wire, "anthropic", {"temperature": 0.7, "reasoning_effort": "medium"})
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert "temperature" not in body  # Anthropic refuses a temperature with thinking
    assert body["max_tokens"] == 8192
    assert shown["params"] == {"max_tokens": 8192, "thinking": {"type": "enabled", "budget_tokens": 4096}}


async def test_gemini_thinks_with_a_budget_in_its_generation_config(wire):  # noqa: F811
    model = wire.models["gemini"]
    model.reasoning = True
    await sync_to_async(model.save)()
    body, shown = await run_with(wire, "gemini", {"reasoning_effort": "low"})
    # The SDK writes the thinking config's own fields in snake_case; the API takes either spelling.
    assert body["generationConfig"]["thinkingConfig"] == {"include_thoughts": True, "thinking_budget": 1024}
    assert shown["params"] == {
        "generationConfig": {"thinkingConfig": {"include_thoughts": True, "thinking_budget": 1024}}
    }
