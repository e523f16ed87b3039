"""The OpenAI-compatible adapter, driven through the real openai SDK against the simulator over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from providers.adapters.openai_compat import OpenAICompatAdapter
from providers.base import AccountConfig, ChatRequest, Message, ProviderError, StreamEvent
from providers.simulator import catalogue
from providers.simulator.text import count_tokens
from tests.fakes.openai_compat import create_app
from tests.fakes.server import serve

FAST = {"ttft_ms": 0, "tokens_per_s": 0}
MESSAGES = (Message("system", "You are terse."), Message("user", "Tell me about token streams please"))


def adapter_for(base_url: str, **account: Any) -> OpenAICompatAdapter:
    return OpenAICompatAdapter(AccountConfig(kind="simulator", base_url=base_url, api_key="sk-test", **account))


async def stream(base_url: str, model: str = "sim-swift", *, max_tokens: int | None = None, **sim: Any):
    """Every event the adapter yields for one request with these simulator options."""
    params: dict[str, Any] = {"simulator": {**FAST, **sim}}
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    adapter = adapter_for(base_url)
    try:
        return [event async for event in adapter.stream(ChatRequest(model, MESSAGES, params))]
    finally:
        await adapter.aclose()


async def direct_answer(base_url: str, model: str = "sim-swift", **sim: Any) -> dict:
    """The simulator's answer to the same messages, asked for without the adapter (non-streaming)."""
    body = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in MESSAGES],
        "simulator": {**FAST, **sim},
    }
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{base_url}/chat/completions", json=body)
    response.raise_for_status()
    return response.json()


def texts(events: list[StreamEvent], kind: str = "text") -> str:
    return "".join(e.text for e in events if e.kind == kind)


def kinds(events: list[StreamEvent]) -> list[str]:
    return [e.kind for e in events]


def only_error(events: list[StreamEvent]) -> ProviderError:
    errors = [e.error for e in events if e.kind == "error"]
    assert len(errors) == 1 and events[-1].kind == "error"
    return errors[0]


@pytest.mark.asyncio
async def test_text_events_join_into_the_simulators_answer(simulator) -> None:
    _, base_url = simulator
    events = await stream(base_url, length=40)
    answer = (await direct_answer(base_url, length=40))["choices"][0]["message"]["content"]
    assert texts(events) == answer
    assert count_tokens(answer) == 40
    assert len([e for e in events if e.kind == "text"]) == 40  # one event per streamed token


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
@pytest.mark.asyncio
async def test_it_keeps_reasoning_apart_and_first(simulator, field: str) -> None:
    _, base_url = simulator
    events = await stream(base_url, "sim-reasoner", length=12, reasoning_length=8, reasoning_field=field)
    order = [k for k in kinds(events) if k in ("reasoning", "text")]
    assert order == ["reasoning"] * 8 + ["text"] * 12
    answer = (await direct_answer(base_url, "sim-reasoner", length=12, reasoning_length=8))["choices"][0]
    assert texts(events, "reasoning") == answer["message"]["reasoning"]
    assert texts(events) == answer["message"]["content"]


@pytest.mark.asyncio
async def test_usage_is_what_the_simulator_reports(simulator) -> None:
    _, base_url = simulator
    events = await stream(base_url, "sim-reasoner", length=12, reasoning_length=8)
    usages = [e.usage for e in events if e.kind == "usage"]
    assert len(usages) == 1
    usage = usages[0]
    reported = (await direct_answer(base_url, "sim-reasoner", length=12, reasoning_length=8))["usage"]
    assert usage.input_tokens == reported["prompt_tokens"] == sum(count_tokens(m.content) for m in MESSAGES)
    assert usage.output_tokens == reported["completion_tokens"] == 20  # output includes reasoning
    assert usage.reasoning_tokens == 8
    assert usage.cached_input_tokens == 0 and not usage.estimated


@pytest.mark.asyncio
async def test_a_complete_answer_finishes_with_stop(simulator) -> None:
    _, base_url = simulator
    events = await stream(base_url, length=10)
    finishes = [e.finish_reason for e in events if e.kind == "finish"]
    assert finishes == ["stop"]
    assert "error" not in kinds(events)


@pytest.mark.asyncio
async def test_max_tokens_finishes_with_length(simulator) -> None:
    _, base_url = simulator
    events = await stream(base_url, length=40, max_tokens=5)
    assert [e.finish_reason for e in events if e.kind == "finish"] == ["length"]
    assert count_tokens(texts(events)) == 5
    assert next(e.usage for e in events if e.kind == "usage").output_tokens == 5


@pytest.mark.asyncio
async def test_a_rate_limit_is_retryable_after_the_header(simulator) -> None:
    _, base_url = simulator
    error = only_error(await stream(base_url, fail={"status": 429, "retry_after": 2}))
    assert (error.code, error.retryable, error.retry_after) == ("rate_limited", True, 2.0)


@pytest.mark.asyncio
async def test_retry_after_ms_is_read_before_retry_after(simulator) -> None:
    _, base_url = simulator
    error = only_error(await stream(base_url, fail={"status": 429, "retry_after": 9, "retry_after_ms": 250}))
    assert error.code == "rate_limited" and error.retry_after == 0.25


@pytest.mark.asyncio
async def test_an_exhausted_quota_is_not_retryable(simulator) -> None:
    _, base_url = simulator
    error = only_error(await stream(base_url, fail={"status": 429, "quota": True}))
    assert (error.code, error.retryable) == ("quota", False)
    assert "quota" in error.message


@pytest.mark.asyncio
async def test_a_rejected_key_is_an_auth_error(simulator) -> None:
    _, base_url = simulator
    error = only_error(await stream(base_url, fail={"status": 401}))
    assert (error.code, error.retryable) == ("auth", False)


@pytest.mark.parametrize(("status", "code"), [(500, "server"), (503, "overloaded")])
@pytest.mark.asyncio
async def test_server_failures_are_retryable(simulator, status: int, code: str) -> None:
    _, base_url = simulator
    error = only_error(await stream(base_url, fail={"status": status}))
    assert (error.code, error.retryable) == (code, True)


@pytest.mark.asyncio
async def test_a_cut_stream_ends_in_stream_cut_after_its_partial_text(simulator) -> None:
    _, base_url = simulator
    events = await stream(base_url, length=20, fail={"cut_after": 6})
    assert kinds(events) == ["text"] * 6 + ["error"]
    error = only_error(events)
    assert (error.code, error.retryable) == ("stream_cut", False)
    answer = (await direct_answer(base_url, length=20))["choices"][0]["message"]["content"]
    assert answer.startswith(texts(events)) and count_tokens(texts(events)) == 6


@pytest.mark.asyncio
async def test_a_dropped_connection_mid_stream_is_a_stream_cut(simulator) -> None:
    _, base_url = simulator
    events = await stream(base_url, length=20, fail={"cut_after": 6, "drop": True})
    assert kinds(events) == ["text"] * 6 + ["error"]
    assert only_error(events).code == "stream_cut"


@pytest.mark.asyncio
async def test_an_error_inside_the_stream_becomes_an_error_event(simulator) -> None:
    _, base_url = simulator
    events = await stream(base_url, length=20, fail={"error_after": 4})
    assert kinds(events) == ["text"] * 4 + ["error"]
    error = only_error(events)
    assert error.code == "server" and error.message


@pytest.mark.asyncio
async def test_list_models_returns_the_catalogue(simulator) -> None:
    _, base_url = simulator
    adapter = adapter_for(base_url)
    try:
        assert await adapter.list_models() == [m.id for m in catalogue.MODELS]
    finally:
        await adapter.aclose()


@pytest.mark.asyncio
async def test_list_models_reports_a_wrong_key_as_auth() -> None:
    with serve(create_app(api_key="sk-right")) as url:
        adapter = OpenAICompatAdapter(AccountConfig(kind="simulator", base_url=f"{url}/v1", api_key="sk-wrong"))
        try:
            with pytest.raises(ProviderError) as raised:
                await adapter.list_models()
        finally:
            await adapter.aclose()
    assert raised.value.code == "auth"


@pytest.mark.asyncio
@pytest.mark.parametrize("key", ["sk-right", "sk-wrong"])
async def test_a_stream_is_sent_with_the_accounts_key(key: str) -> None:
    """The provider's own check of the key: the right one streams, a wrong one is an auth error with
    the provider's message."""
    with serve(create_app(api_key="sk-right")) as url:
        adapter = OpenAICompatAdapter(AccountConfig(kind="simulator", base_url=f"{url}/v1", api_key=key))
        try:
            request = ChatRequest("sim-swift", MESSAGES, {"simulator": FAST})
            events = [event async for event in adapter.stream(request)]
        finally:
            await adapter.aclose()
    if key == "sk-right":
        assert "finish" in [e.kind for e in events] and texts(events)
    else:
        assert [e.kind for e in events] == ["error"]
        assert events[0].error.code == "auth" and "Incorrect API key" in events[0].error.message
