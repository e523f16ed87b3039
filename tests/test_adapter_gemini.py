"""The Gemini adapter against the Gemini simulator, over real HTTP, through the real google-genai SDK."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from providers.adapters.gemini import GeminiAdapter
from providers.base import AccountConfig, ChatRequest, Message, StreamEvent
from tests.fakes.gemini import catalogue
from tests.fakes.gemini.app import GeminiSimulatorApp, create_app
from tests.fakes.server import serve

KEY = "AIza-sim-test-key-0123456789"
FAST = {"ttft_ms": 0, "tokens_per_s": 0}
MESSAGES = (
    Message("system", "Be terse."),
    Message("user", "Compare these two numbers"),
    Message("user", "9.11 or 9.8?"),
    Message("assistant", "Which one first?"),
    Message("user", "The larger one please"),
)
PROMPT_TOKENS = 3 + 4 + 2 + 3 + 4  # words, as the simulator counts them


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[GeminiSimulatorApp, str]]:
    app = create_app(api_key=KEY)
    with serve(app) as base_url:
        yield app, base_url


def adapter(base_url: str, key: str = KEY, idle_timeout_s: float = 10.0) -> GeminiAdapter:
    return GeminiAdapter(AccountConfig(kind="gemini", base_url=base_url, api_key=key, idle_timeout_s=idle_timeout_s))


async def collect(
    base_url: str,
    model: str = "gemini-2.5-flash-lite",  # no hidden thinking, so token positions are answer positions
    key: str = KEY,
    idle_timeout_s: float = 10.0,
    **params: Any,
) -> list[StreamEvent]:
    """Stream one answer; every error it ends with is checked for the key on the way out."""
    simulator = {**FAST, **params.pop("simulator", {})}
    gemini = adapter(base_url, key, idle_timeout_s)
    try:
        events = [e async for e in gemini.stream(ChatRequest(model, MESSAGES, {**params, "simulator": simulator}))]
    finally:
        await gemini.aclose()
    for event in events:
        if event.error is not None:
            assert KEY not in event.error.message and (not key or key not in event.error.message)
    return events


def text_of(events: list[StreamEvent], kind: str = "text") -> str:
    return "".join(e.text for e in events if e.kind == kind)


def tokens(events: list[StreamEvent], kind: str = "text") -> int:
    """How many tokens arrived: the simulator sends one per event unless told otherwise."""
    return len([e for e in events if e.kind == kind])


def only(events: list[StreamEvent], kind: str) -> StreamEvent:
    matching = [e for e in events if e.kind == kind]
    assert len(matching) == 1, events
    return matching[0]


@pytest.mark.asyncio
async def test_it_keeps_thoughts_apart_and_first(server: tuple[GeminiSimulatorApp, str]) -> None:
    _, base_url = server
    events = await collect(base_url, "gemini-3.1-pro-preview", thinking=True, simulator={"reasoning_length": 6})
    kinds = [e.kind for e in events if e.kind in ("reasoning", "text")]
    assert kinds == ["reasoning"] * 6 + ["text"] * catalogue.get("gemini-3.1-pro-preview").length
    assert text_of(events, "reasoning").endswith(".") and text_of(events).endswith(".")
    assert only(events, "finish").finish_reason == "stop"


@pytest.mark.asyncio
async def test_thoughts_stay_hidden_but_billed_unless_asked_for(server: tuple[GeminiSimulatorApp, str]) -> None:
    _, base_url = server
    events = await collect(base_url, "gemini-3.1-pro-preview", simulator={"reasoning_length": 5, "length": 3})
    assert not [e for e in events if e.kind == "reasoning"]
    usage = only(events, "usage").usage
    assert (usage.reasoning_tokens, usage.output_tokens) == (5, 8)


@pytest.mark.asyncio
async def test_usage_is_normalised_from_the_last_chunk(server: tuple[GeminiSimulatorApp, str]) -> None:
    _, base_url = server
    sim = {"reasoning_length": 4, "length": 5, "cached_tokens": 3}
    events = await collect(base_url, "gemini-3.1-pro-preview", include_thoughts=True, simulator=sim)
    usage = only(events, "usage").usage  # one event, although every chunk carried partial counts
    assert usage.input_tokens == PROMPT_TOKENS  # promptTokenCount already includes the cached part
    assert usage.cached_input_tokens == 3
    assert usage.output_tokens == 4 + 5  # candidates exclude thoughts; Prism's output includes them
    assert usage.reasoning_tokens == 4
    assert not usage.estimated


@pytest.mark.asyncio
async def test_system_goes_apart_and_turns_alternate(server: tuple[GeminiSimulatorApp, str]) -> None:
    app, base_url = server
    await collect(base_url, max_tokens=300, temperature=0.5, thinking={"budget": 64})
    body = app.recent_requests[-1]["body"]
    assert body["systemInstruction"]["parts"] == [{"text": "Be terse."}]
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][0]["parts"] == [{"text": "Compare these two numbers\n\n9.11 or 9.8?"}]
    config = body["generationConfig"]
    assert (config["maxOutputTokens"], config["temperature"]) == (300, 0.5)
    assert config["thinkingConfig"] == {"include_thoughts": True, "thinking_budget": 64}
    assert "automatic_continuation" not in json.dumps(body)


@pytest.mark.asyncio
async def test_the_key_travels_in_a_header_never_in_the_url(server: tuple[GeminiSimulatorApp, str]) -> None:
    app, base_url = server
    await collect(base_url)
    request = app.recent_requests[-1]
    assert request["path"] == "/v1beta/models/gemini-2.5-flash-lite:streamGenerateContent"
    assert request["query"] == {"alt": "sse"}
    assert request["headers"]["x-goog-api-key"] == "<redacted>"


@pytest.mark.asyncio
async def test_the_sdk_sends_one_request_and_leaves_retries_to_the_engine(
    server: tuple[GeminiSimulatorApp, str],
) -> None:
    app, base_url = server
    before = app.request_count
    events = await collect(base_url, simulator={"fail": {"status": 503}})
    assert only(events, "error").error.code == "overloaded"
    assert app.request_count == before + 1


@pytest.mark.asyncio
async def test_running_out_of_tokens_finishes_with_length(server: tuple[GeminiSimulatorApp, str]) -> None:
    _, base_url = server
    events = await collect(base_url, max_tokens=3, simulator={"length": 10})
    assert tokens(events) == 3
    assert only(events, "finish").finish_reason == "length"


@pytest.mark.asyncio
@pytest.mark.parametrize("reason", ["SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "LANGUAGE"])
async def test_safety_stops_finish_with_content_filter(server: tuple[GeminiSimulatorApp, str], reason: str) -> None:
    _, base_url = server
    events = await collect(base_url, simulator={"finish_reason": reason, "length": 3})
    assert only(events, "finish").finish_reason == "content_filter"


@pytest.mark.asyncio
async def test_a_blocked_prompt_finishes_with_content_filter_and_no_text(
    server: tuple[GeminiSimulatorApp, str],
) -> None:
    _, base_url = server
    events = await collect(base_url, simulator={"block_reason": "SAFETY"})
    assert text_of(events) == ""
    assert only(events, "finish").finish_reason == "content_filter"
    assert only(events, "usage").usage.input_tokens == PROMPT_TOKENS


@pytest.mark.asyncio
async def test_a_rate_limit_is_retryable_after_the_retry_info_delay(server: tuple[GeminiSimulatorApp, str]) -> None:
    _, base_url = server
    error = only(await collect(base_url, simulator={"fail": {"status": 429, "retry_after": 1.5}}), "error").error
    assert (error.code, error.retryable, error.retry_after) == ("rate_limited", True, 1.5)
    assert "exceeded your current quota" in error.message  # Google's wording, yet only a per-minute limit


@pytest.mark.asyncio
async def test_a_retry_after_header_wins_over_retry_info(server: tuple[GeminiSimulatorApp, str]) -> None:
    _, base_url = server
    fail = {"status": 429, "retry_after": 1.5, "headers": {"Retry-After": "3"}}
    error = only(await collect(base_url, simulator={"fail": fail}), "error").error
    assert (error.code, error.retry_after) == ("rate_limited", 3.0)


@pytest.mark.asyncio
async def test_depleted_credits_are_quota_and_not_retried(server: tuple[GeminiSimulatorApp, str]) -> None:
    _, base_url = server
    error = only(await collect(base_url, simulator={"fail": {"status": 429, "quota": True}}), "error").error
    assert (error.code, error.retryable) == ("quota", False)
    assert "billing" in error.message


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [(503, "overloaded", True), (500, "server", True), (504, "timeout", True), (400, "bad_request", False)],
)
async def test_http_failures_map_to_error_kinds(
    server: tuple[GeminiSimulatorApp, str], status: int, code: str, retryable: bool
) -> None:
    _, base_url = server
    error = only(await collect(base_url, simulator={"fail": {"status": status}}), "error").error
    assert (error.code, error.retryable) == (code, retryable)


@pytest.mark.asyncio
async def test_too_long_a_prompt_is_context_length(server: tuple[GeminiSimulatorApp, str]) -> None:
    _, base_url = server
    error = only(await collect(base_url, simulator={"input_token_limit": 5}), "error").error
    assert error.code == "context_length" and not error.retryable
    assert f"input token count ({PROMPT_TOKENS})" in error.message


@pytest.mark.asyncio
@pytest.mark.parametrize("key", ["AIza-wrong-key-9876543210", ""])
async def test_a_bad_or_missing_key_is_auth(server: tuple[GeminiSimulatorApp, str], key: str) -> None:
    _, base_url = server
    error = only(await collect(base_url, key=key), "error").error  # Google answers 400 API_KEY_INVALID
    assert (error.code, error.retryable) == ("auth", False)
    assert error.message == "API key not valid. Please pass a valid API key."


@pytest.mark.asyncio
async def test_an_unknown_model_is_a_bad_request(server: tuple[GeminiSimulatorApp, str]) -> None:
    _, base_url = server
    error = only(await collect(base_url, "gemini-0-nonexistent"), "error").error
    assert error.code == "bad_request" and "not found" in error.message


@pytest.mark.asyncio
@pytest.mark.parametrize("drop", [False, True])
async def test_a_cut_stream_keeps_its_partial_text(server: tuple[GeminiSimulatorApp, str], drop: bool) -> None:
    _, base_url = server
    events = await collect(base_url, simulator={"length": 10, "fail": {"cut_after": 4, "drop": drop}})
    assert tokens(events) == 4
    assert only(events, "error").error.code == "stream_cut"
    assert not [e for e in events if e.kind in ("finish", "usage")]


@pytest.mark.asyncio
async def test_a_stream_that_ends_without_a_finish_reason_is_cut(server: tuple[GeminiSimulatorApp, str]) -> None:
    _, base_url = server
    events = await collect(base_url, simulator={"length": 6, "fail": {"finish_without_reason": True}})
    assert text_of(events).endswith(".")  # the whole answer came, yet nobody said it was over
    assert events[-1].kind == "error" and events[-1].error.code == "stream_cut"


@pytest.mark.asyncio
async def test_an_error_event_mid_stream_is_a_server_error(server: tuple[GeminiSimulatorApp, str]) -> None:
    _, base_url = server
    events = await collect(base_url, simulator={"length": 6, "fail": {"error_after": 2}})
    assert tokens(events) == 2
    assert only(events, "error").error.code == "server"


@pytest.mark.asyncio
async def test_a_silent_stream_times_out_on_the_idle_timeout(server: tuple[GeminiSimulatorApp, str]) -> None:
    _, base_url = server
    # The SDK would pass timeout=None per request; the adapter keeps the client's read timeout alive.
    fail = {"stall_after": 2, "stall_s": 30}
    events = await collect(base_url, idle_timeout_s=0.3, simulator={"length": 6, "fail": fail})
    assert tokens(events) == 2
    error = only(events, "error").error
    assert (error.code, error.retryable) == ("timeout", True)


@pytest.mark.asyncio
async def test_an_unreachable_provider_is_a_network_error() -> None:
    with serve(create_app()) as base_url:
        pass  # the port is free again once the server stops
    error = only(await collect(base_url), "error").error
    assert (error.code, error.retryable) == ("network", True)


@pytest.mark.asyncio
async def test_abandoning_a_stream_frees_the_connection(server: tuple[GeminiSimulatorApp, str]) -> None:
    app, base_url = server
    cancelled = app.cancelled_streams
    gemini = adapter(base_url)
    request = ChatRequest("gemini-2.5-flash-lite", MESSAGES, {"simulator": {"ttft_ms": 0, "tokens_per_s": 20}})
    stream = gemini.stream(request)
    first = await anext(stream)
    assert first.kind == "text"
    await stream.aclose()
    await gemini.aclose()
    for _ in range(200):
        if app.cancelled_streams > cancelled:
            break
        await asyncio.sleep(0.01)
    assert app.cancelled_streams == cancelled + 1


@pytest.mark.asyncio
async def test_it_lists_models_without_the_prefix(server: tuple[GeminiSimulatorApp, str]) -> None:
    _, base_url = server
    gemini = adapter(base_url)
    try:
        assert await gemini.list_models() == [m.id for m in catalogue.MODELS]
    finally:
        await gemini.aclose()


@pytest.mark.asyncio
async def test_listing_models_with_a_bad_key_raises_auth(server: tuple[GeminiSimulatorApp, str]) -> None:
    _, base_url = server
    gemini = adapter(base_url, key="AIza-wrong")
    try:
        with pytest.raises(Exception) as caught:
            await gemini.list_models()
    finally:
        await gemini.aclose()
    assert getattr(caught.value, "code", None) == "auth"


def test_the_simulator_frames_sse_with_crlf_and_ends_at_eof(server: tuple[GeminiSimulatorApp, str]) -> None:
    _, base_url = server
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "simulator": {**FAST, "length": 3}}
    response = httpx.post(
        base_url + "/v1beta/models/gemini-2.5-flash-lite:streamGenerateContent?alt=sse",
        headers={"x-goog-api-key": KEY},
        json=body,
    )
    assert response.status_code == 200 and response.headers["content-type"] == "text/event-stream"
    events = response.text.split("\r\n\r\n")
    assert events[-1] == "" and "[DONE]" not in response.text
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert [c["candidates"][0].get("finishReason") for c in chunks] == [None, None, "STOP"]
    assert all(c["usageMetadata"]["promptTokenCount"] == 1 for c in chunks)
    assert [c["usageMetadata"].get("candidatesTokenCount") for c in chunks] == [1, 2, 3]
    assert len({c["responseId"] for c in chunks}) == 1 and chunks[0]["modelVersion"] == "gemini-2.5-flash-lite"


@pytest.mark.parametrize(
    ("headers", "status", "google_status"),
    [({"x-goog-api-key": "wrong"}, 400, "INVALID_ARGUMENT"), ({}, 403, "PERMISSION_DENIED")],
)
def test_the_simulator_answers_a_bad_key_as_google_does(
    server: tuple[GeminiSimulatorApp, str], headers: dict[str, str], status: int, google_status: str
) -> None:
    _, base_url = server
    response = httpx.get(base_url + "/v1beta/models", headers=headers)
    error = response.json()["error"]
    assert (response.status_code, error["code"], error["status"]) == (status, status, google_status)


def test_the_simulator_records_a_key_sent_in_the_url_without_its_value(server: tuple[GeminiSimulatorApp, str]) -> None:
    app, base_url = server
    assert httpx.get(base_url + "/v1beta/models", params={"key": KEY}).status_code == 200
    assert app.recent_requests[-1]["query"] == {"key": "<redacted>"}
    assert KEY not in json.dumps(list(app.recent_requests))


@pytest.mark.asyncio
async def test_the_simulator_answers_generate_content_in_one_body(server: tuple[GeminiSimulatorApp, str]) -> None:
    from google.genai import types

    _, base_url = server
    gemini = adapter(base_url)
    try:
        config = types.GenerateContentConfig(
            thinking_config=types.ThinkingConfig(include_thoughts=True),
            http_options=types.HttpOptions(extra_body={"simulator": {**FAST, "length": 4, "reasoning_length": 2}}),
        )
        response = await gemini._client.aio.models.generate_content(
            model="gemini-3.1-pro-preview", contents="hi", config=config
        )
    finally:
        await gemini.aclose()
    thought, answer = response.candidates[0].content.parts
    assert thought.thought and thought.text.count(" ") == 1
    assert not answer.thought and answer.text.count(" ") == 3 and answer.thought_signature
    assert response.usage_metadata.thoughts_token_count == 2 and response.usage_metadata.candidates_token_count == 4


@pytest.mark.asyncio
async def test_it_works_under_a_url_prefix() -> None:
    app = create_app(prefix="/simulator/gemini", api_key=KEY)
    with serve(app) as base_url:
        events = await collect(base_url + "/simulator/gemini", simulator={"length": 3})
    assert tokens(events) == 3 and only(events, "finish").finish_reason == "stop"
    assert (
        app.recent_requests[-1]["path"] == "/simulator/gemini/v1beta/models/gemini-2.5-flash-lite:streamGenerateContent"
    )
