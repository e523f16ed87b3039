"""The Anthropic adapter, driven through the real anthropic SDK against the Anthropic simulator over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from providers.adapters.anthropic import DEFAULT_MAX_TOKENS, OPENING_TURN, AnthropicAdapter
from providers.base import AccountConfig, ChatRequest, Message, ProviderError, StreamEvent
from providers.simulator.text import count_tokens
from tests.fakes.anthropic import catalogue
from tests.fakes.anthropic.app import AnthropicSimulatorApp, create_app
from tests.fakes.server import serve

API_KEY = "sk-ant-api03-test-key-0123456789"
VERSION = {"anthropic-version": "2023-06-01"}
FAST = {"ttft_ms": 0, "tokens_per_s": 0}
THINK = {"thinking": {"type": "adaptive"}}
MESSAGES = (Message("system", "You are terse."), Message("user", "Tell me about token streams please"))
SONNET, HAIKU = "claude-sonnet-4-6", "claude-haiku-5-5"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[AnthropicSimulatorApp, str]]:
    app = create_app(prefix="/anthropic", api_key=API_KEY)
    with serve(app) as base_url:
        yield app, base_url + "/anthropic"


def adapter_for(base_url: str, api_key: str = API_KEY, **account: Any) -> AnthropicAdapter:
    return AnthropicAdapter(AccountConfig(kind="anthropic", base_url=base_url, api_key=api_key, **account))


async def stream(
    base_url: str,
    model: str = HAIKU,
    *,
    messages: tuple[Message, ...] = MESSAGES,
    params: dict | None = None,
    api_key: str = API_KEY,
    **sim: Any,
) -> list[StreamEvent]:
    """Every event the adapter yields for one request with these params and simulator options."""
    adapter = adapter_for(base_url, api_key)
    request = ChatRequest(model, messages, {**(params or {}), "simulator": {**FAST, **sim}})
    try:
        return [event async for event in adapter.stream(request)]
    finally:
        await adapter.aclose()


def replay(app: AnthropicSimulatorApp, base_url: str) -> dict:
    """The simulator's non-streamed, fault-free answer to the body the adapter last sent: the text to expect."""
    sent = app.recent_requests[-1]
    sim = {k: v for k, v in sent["simulator"].items() if k != "fail"}
    body = {**sent, "stream": False, "simulator": sim}
    response = httpx.post(f"{base_url}/v1/messages", json=body, headers={"x-api-key": API_KEY, **VERSION})
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


def finish_of(events: list[StreamEvent]) -> str | None:
    finishes = [e.finish_reason for e in events if e.kind == "finish"]
    assert len(finishes) == 1 and events[-1].kind == "finish"
    return finishes[0]


# --- streaming -------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_it_keeps_thinking_apart_and_first(server) -> None:
    app, base_url = server
    events = await stream(base_url, SONNET, params=THINK, length=12, reasoning_length=8)
    assert [k for k in kinds(events) if k in ("reasoning", "text")] == ["reasoning"] * 8 + ["text"] * 12
    thinking, text = replay(app, base_url)["content"]
    assert texts(events, "reasoning") == thinking["thinking"]
    assert texts(events) == text["text"]
    assert kinds(events)[-2:] == ["usage", "finish"]


@pytest.mark.asyncio
async def test_without_thinking_only_text_arrives(server) -> None:
    app, base_url = server
    events = await stream(base_url, SONNET, length=10)
    assert kinds(events) == ["text"] * 10 + ["usage", "finish"]
    assert "thinking" not in app.recent_requests[-1]
    assert texts(events) == replay(app, base_url)["content"][0]["text"]


@pytest.mark.asyncio
async def test_usage_counts_cache_reads_and_writes_as_input(server) -> None:
    _, base_url = server
    events = await stream(
        base_url, SONNET, params=THINK, length=12, reasoning_length=8, cache_read=2048, cache_write=512
    )
    usages = [e.usage for e in events if e.kind == "usage"]
    assert len(usages) == 1
    usage = usages[0]
    counted = sum(count_tokens(m.content) for m in MESSAGES)
    assert usage.input_tokens == counted + 2048 + 512
    assert (usage.cached_input_tokens, usage.cache_write_tokens) == (2048, 512)
    assert usage.output_tokens == 20  # from message_delta, thinking included
    assert usage.reasoning_tokens == 8 and not usage.estimated


@pytest.mark.asyncio
async def test_usage_is_the_same_when_message_delta_only_has_output(server) -> None:
    _, base_url = server
    events = await stream(base_url, length=12, cache_read=100, cache_write=7, legacy_usage=True)
    usage = next(e.usage for e in events if e.kind == "usage")
    counted = sum(count_tokens(m.content) for m in MESSAGES)
    assert (usage.input_tokens, usage.cached_input_tokens, usage.cache_write_tokens) == (counted + 107, 100, 7)
    assert usage.output_tokens == 12


# --- the request ------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_system_turns_move_to_the_top_level_field(server) -> None:
    app, base_url = server
    messages = (Message("system", "Be terse."), Message("system", "Use British spelling."), Message("user", "Hi"))
    await stream(base_url, messages=messages, length=3)
    sent = app.recent_requests[-1]
    assert sent["system"] == "Be terse.\n\nUse British spelling."
    assert sent["messages"] == [{"role": "user", "content": "Hi"}]


@pytest.mark.asyncio
async def test_consecutive_turns_of_one_role_are_joined(server) -> None:
    app, base_url = server
    messages = (
        Message("user", "First note."),
        Message("user", "Second note."),
        Message("assistant", "An answer."),
        Message("assistant", "More answer."),
        Message("user", "A question?"),
    )
    events = await stream(base_url, messages=messages, length=3)
    assert "error" not in kinds(events)
    assert app.recent_requests[-1]["messages"] == [
        {"role": "user", "content": "First note.\n\nSecond note."},
        {"role": "assistant", "content": "An answer.\n\nMore answer."},
        {"role": "user", "content": "A question?"},
    ]
    assert "system" not in app.recent_requests[-1]


@pytest.mark.asyncio
async def test_a_context_that_opens_with_an_answer_gets_a_user_turn_first(server) -> None:
    app, base_url = server
    messages = (Message("system", "S"), Message("assistant", "Earlier answer."), Message("user", "Go on."))
    events = await stream(base_url, messages=messages, length=3)
    assert "error" not in kinds(events)
    assert [m["role"] for m in app.recent_requests[-1]["messages"]] == ["user", "assistant", "user"]
    assert app.recent_requests[-1]["messages"][0]["content"] == OPENING_TURN


@pytest.mark.asyncio
async def test_max_tokens_is_always_sent(server) -> None:
    app, base_url = server
    await stream(base_url, length=3)
    assert app.recent_requests[-1]["max_tokens"] == DEFAULT_MAX_TOKENS
    await stream(base_url, params={"max_tokens": 300}, length=3)
    assert app.recent_requests[-1]["max_tokens"] == 300


@pytest.mark.asyncio
async def test_params_pass_through_to_the_body(server) -> None:
    app, base_url = server
    params = {
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "max_tokens": 4096,
        "temperature": 1,
        "top_k": 40,
        "stop_sequences": ["\n\nHuman:"],
    }
    events = await stream(base_url, SONNET, params=params, length=5, reasoning_length=3)
    assert "error" not in kinds(events)
    sent = app.recent_requests[-1]
    assert {key: sent[key] for key in params} == params
    assert sent["stream"] is True and sent["model"] == SONNET


# --- finish reasons ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_complete_answer_finishes_with_stop(server) -> None:
    _, base_url = server
    assert finish_of(await stream(base_url, length=10)) == "stop"


@pytest.mark.asyncio
async def test_max_tokens_finishes_with_length(server) -> None:
    _, base_url = server
    events = await stream(base_url, params={"max_tokens": 5}, length=40)
    assert finish_of(events) == "length"
    assert count_tokens(texts(events)) == 5
    assert next(e.usage for e in events if e.kind == "usage").output_tokens == 5


@pytest.mark.asyncio
async def test_a_stop_sequence_finishes_with_stop_before_the_sequence(server) -> None:
    app, base_url = server
    await stream(base_url, length=30)
    full = replay(app, base_url)["content"][0]["text"]
    sequence = full.split()[10]
    events = await stream(base_url, params={"stop_sequences": [sequence]}, length=30)
    assert finish_of(events) == "stop"
    assert texts(events) == full[: full.index(sequence)]


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("tool_use", "stop"),
        ("pause_turn", "stop"),
        ("refusal", "content_filter"),
        ("model_context_window_exceeded", "length"),
    ],
)
@pytest.mark.asyncio
async def test_each_stop_reason_has_a_finish_reason(server, stop_reason: str, finish: str) -> None:
    _, base_url = server
    assert finish_of(await stream(base_url, length=4, stop_reason=stop_reason)) == finish


# --- errors -----------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_wrong_key_is_an_auth_error_that_never_shows_the_key(server) -> None:
    _, base_url = server
    wrong = "sk-ant-api03-wrong-key-9876543210"
    error = only_error(await stream(base_url, api_key=wrong, length=3))
    assert (error.code, error.retryable) == ("auth", False)
    assert wrong not in error.message and API_KEY not in error.message and wrong not in str(error)


@pytest.mark.asyncio
async def test_a_key_echoed_by_the_provider_is_redacted(server) -> None:
    _, base_url = server
    error = only_error(await stream(base_url, fail={"status": 401, "message": f"invalid x-api-key: {API_KEY}"}))
    assert error.code == "auth"
    assert API_KEY not in error.message and API_KEY not in str(error)


@pytest.mark.asyncio
async def test_a_forbidden_key_is_an_auth_error(server) -> None:
    _, base_url = server
    assert only_error(await stream(base_url, fail={"status": 403})).code == "auth"


@pytest.mark.asyncio
async def test_a_rate_limit_is_retryable_after_the_header(server) -> None:
    _, base_url = server
    error = only_error(await stream(base_url, fail={"status": 429, "retry_after": 3}))
    assert (error.code, error.retryable, error.retry_after) == ("rate_limited", True, 3.0)


@pytest.mark.asyncio
async def test_overloaded_is_retryable(server) -> None:
    _, base_url = server
    error = only_error(await stream(base_url, fail={"status": 529}))
    assert (error.code, error.retryable) == ("overloaded", True)
    assert error.message == "Overloaded"


@pytest.mark.asyncio
async def test_an_api_error_is_a_retryable_server_error(server) -> None:
    _, base_url = server
    error = only_error(await stream(base_url, fail={"status": 500}))
    assert (error.code, error.retryable) == ("server", True)


@pytest.mark.asyncio
async def test_billing_is_a_quota_error(server) -> None:
    _, base_url = server
    error = only_error(await stream(base_url, fail={"status": 400, "error_type": "billing_error"}))
    assert (error.code, error.retryable) == ("quota", False)


@pytest.mark.asyncio
async def test_a_prompt_past_the_context_window_is_context_length(server) -> None:
    _, base_url = server
    error = only_error(await stream(base_url, context_window=3))
    assert (error.code, error.retryable) == ("context_length", False)
    assert error.message.startswith("prompt is too long")


@pytest.mark.asyncio
async def test_other_invalid_requests_are_bad_requests(server) -> None:
    _, base_url = server
    error = only_error(await stream(base_url, SONNET, params={"thinking": {"type": "enabled", "budget_tokens": 10}}))
    assert (error.code, error.retryable) == ("bad_request", False)
    assert "budget_tokens" in error.message
    assert only_error(await stream(base_url, fail={"status": 413})).code == "bad_request"


@pytest.mark.asyncio
async def test_an_error_inside_the_stream_keeps_the_text_before_it(server) -> None:
    _, base_url = server
    events = await stream(base_url, length=20, fail={"error_after": 4})
    assert kinds(events) == ["text"] * 4 + ["error"]
    error = only_error(events)
    assert (error.code, error.retryable) == ("overloaded", True)


@pytest.mark.asyncio
async def test_a_cut_stream_ends_in_stream_cut_after_its_partial_text(server) -> None:
    app, base_url = server
    events = await stream(base_url, SONNET, params=THINK, length=20, reasoning_length=4, fail={"cut_after": 10})
    assert kinds(events) == ["reasoning"] * 4 + ["text"] * 6 + ["error"]
    assert (only_error(events).code, only_error(events).retryable) == ("stream_cut", False)
    answer = replay(app, base_url)["content"][1]["text"]
    assert answer.startswith(texts(events)) and count_tokens(texts(events)) == 6


@pytest.mark.asyncio
async def test_a_stream_cut_before_message_stop_is_a_stream_cut(server) -> None:
    _, base_url = server
    events = await stream(base_url, length=5, fail={"cut_after": 5, "partial": False})
    assert kinds(events) == ["text"] * 5 + ["error"]
    assert only_error(events).code == "stream_cut"


@pytest.mark.asyncio
async def test_a_dropped_connection_mid_stream_is_a_stream_cut(server) -> None:
    _, base_url = server
    events = await stream(base_url, length=20, fail={"cut_after": 6, "drop": True})
    assert kinds(events) == ["text"] * 6 + ["error"]
    assert only_error(events).code == "stream_cut"


@pytest.mark.asyncio
async def test_silence_past_the_idle_timeout_is_a_timeout(server) -> None:
    _, base_url = server
    adapter = adapter_for(base_url, idle_timeout_s=0.3)
    request = ChatRequest(HAIKU, MESSAGES, {"simulator": {**FAST, "length": 10, "fail": {"stall_after": 2}}})
    try:
        events = [event async for event in adapter.stream(request)]
    finally:
        await adapter.aclose()
    assert kinds(events) == ["text"] * 2 + ["error"]
    assert (only_error(events).code, only_error(events).retryable) == ("timeout", True)


@pytest.mark.asyncio
async def test_a_fault_for_the_first_try_only_lets_the_retry_through(server) -> None:
    _, base_url = server
    fail = {"status": 529, "times": 1, "fail_key": "first-try-only"}
    assert only_error(await stream(base_url, length=3, fail=fail)).code == "overloaded"
    assert finish_of(await stream(base_url, length=3, fail=fail)) == "stop"


@pytest.mark.asyncio
async def test_an_unreachable_provider_is_a_network_error() -> None:
    with serve(create_app()) as url:
        pass  # the port is closed again once the server stops
    error = only_error(await stream(url, length=3))
    assert (error.code, error.retryable) == ("network", True)


@pytest.mark.asyncio
async def test_abandoning_the_stream_closes_the_connection(server) -> None:
    app, base_url = server
    cancelled = app.cancelled_streams
    adapter = adapter_for(base_url)
    request = ChatRequest(HAIKU, MESSAGES, {"simulator": {"ttft_ms": 0, "tokens_per_s": 50, "length": 500}})
    events = adapter.stream(request)
    assert (await anext(events)).kind == "text"
    await events.aclose()
    await adapter.aclose()
    for _ in range(200):  # the simulator notices the disconnect on its own thread
        if app.cancelled_streams > cancelled:
            break
        await asyncio.sleep(0.01)
    assert app.cancelled_streams == cancelled + 1


# --- models -----------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_list_models_returns_the_catalogue(server) -> None:
    _, base_url = server
    adapter = adapter_for(base_url)
    try:
        assert await adapter.list_models() == [m.id for m in catalogue.MODELS]
    finally:
        await adapter.aclose()


@pytest.mark.asyncio
async def test_list_models_reports_a_wrong_key_as_auth(server) -> None:
    _, base_url = server
    adapter = adapter_for(base_url, api_key="sk-ant-wrong")
    try:
        with pytest.raises(ProviderError) as raised:
            await adapter.list_models()
    finally:
        await adapter.aclose()
    assert raised.value.code == "auth" and "sk-ant-wrong" not in str(raised.value)


# --- the simulator on the wire ----------------------------------------------------------------------------


def post(base_url: str, body: dict, **headers: str) -> httpx.Response:
    sent = {"x-api-key": API_KEY, **VERSION, **headers}
    return httpx.post(f"{base_url}/v1/messages", json=body, headers={k: v for k, v in sent.items() if v})


def sse_events(raw: str) -> list[tuple[str, dict]]:
    events = []
    for block in raw.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if line)
        if lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_the_simulator_streams_anthropics_event_order(server) -> None:
    _, base_url = server
    body = {
        "model": SONNET,
        "max_tokens": 100,
        "stream": True,
        "thinking": {"type": "adaptive"},
        "messages": [{"role": "user", "content": "Hello"}],
        "simulator": {**FAST, "length": 2, "reasoning_length": 2, "cache_read": 2048},
    }
    response = post(base_url, body)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert all(name == data["type"] for name, data in events)
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",  # the signature
        "content_block_stop",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["cache_read_input_tokens"] == 2048 and start["usage"]["input_tokens"] == 1
    assert events[4][1]["delta"]["type"] == "signature_delta"
    assert [events[i][1]["index"] for i in (1, 5, 7, 10)] == [0, 0, 1, 1]
    assert events[11][1]["delta"]["stop_reason"] == "end_turn" and events[11][1]["usage"]["output_tokens"] == 4


def test_the_simulator_pings_while_the_first_token_is_far_off(server) -> None:
    _, base_url = server
    body = {
        "model": SONNET,
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": "Hello"}],
        "simulator": {"ttft_ms": 2200, "tokens_per_s": 5000, "length": 1},
    }
    names = [name for name, _ in sse_events(post(base_url, body).text)]
    # Two keep-alives (at 1 s and 2 s), then the ping the API sends before a text block anyway.
    assert names[:5] == ["message_start", "ping", "ping", "ping", "content_block_start"]


def test_the_simulator_rejects_a_wrong_key_like_the_api(server) -> None:
    _, base_url = server
    response = post(base_url, {}, **{"x-api-key": "nope"})
    assert response.status_code == 401
    body = response.json()
    assert body["type"] == "error" and body["request_id"].startswith("req_")
    assert body["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}


@pytest.mark.parametrize(
    ("body", "headers", "words"),
    [
        ({"model": HAIKU, "messages": [{"role": "user", "content": "Hi"}]}, {}, "max_tokens: Field required"),
        (
            {"model": HAIKU, "max_tokens": 5, "messages": [{"role": "system", "content": "S"}]},
            {},
            'Unexpected role "system"',
        ),
        ({"model": HAIKU, "max_tokens": 5, "messages": []}, {"anthropic-version": ""}, "anthropic-version"),
    ],
)
def test_the_simulator_rejects_what_the_api_rejects(server, body: dict, headers: dict, words: str) -> None:
    _, base_url = server
    response = post(base_url, body, **headers)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert words in response.json()["error"]["message"]
