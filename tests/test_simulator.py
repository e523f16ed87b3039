"""The simulator provider, exercised over real HTTP with the official openai SDK."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from providers.simulator import catalogue
from providers.simulator.plan import build_plan, resolve_model
from providers.simulator.text import count_tokens, tokens_for
from tests.fakes.openai_compat import SimulatorApp, create_app
from tests.fakes.server import serve

API_KEY = "sk-sim-test-key"
FAST = {"ttft_ms": 0, "tokens_per_s": 5000}
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Tell me about token streams please"},
]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[SimulatorApp, str]]:
    app = create_app(prefix="/simulator", api_key=API_KEY)
    with serve(app) as base_url:
        yield app, base_url + "/simulator"


def client(base_url: str, api_key: str = API_KEY, max_retries: int = 0) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=max_retries)


async def collect(base_url: str, model: str = "sim-swift", **sim: Any) -> list[Any]:
    """Stream one completion with include_usage and return every parsed chunk."""
    async with client(base_url) as api:
        stream = await api.chat.completions.create(
            model=model,
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"simulator": {**FAST, **sim}},
        )
        return [chunk async for chunk in stream]


def content_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_text_is_deterministic_and_counts_as_words() -> None:
    tokens = tokens_for("seed", 50)
    assert tokens == tokens_for("seed", 50)
    assert tokens != tokens_for("other seed", 50)
    assert count_tokens("".join(tokens)) == 50
    assert "".join(tokens).endswith(".")
    assert count_tokens("") == 0 and count_tokens("  ") == 1


@pytest.mark.asyncio
async def test_models_lists_catalogue(server: tuple[SimulatorApp, str]) -> None:
    _, base_url = server
    async with client(base_url) as api:
        page = await api.models.list()
    assert [m.id for m in page.data] == [m.id for m in catalogue.MODELS]
    assert {m.owned_by for m in page.data} == {"prism-simulator"}


def test_health_is_open_and_empty(server: tuple[SimulatorApp, str]) -> None:
    _, base_url = server
    response = httpx.get(base_url + "/health")
    assert response.status_code == 200 and response.content == b""


@pytest.mark.asyncio
async def test_stream_is_deterministic_and_wire_shaped(server: tuple[SimulatorApp, str]) -> None:
    _, base_url = server
    first, second = await collect(base_url), await collect(base_url)
    assert content_of(first) == content_of(second)
    assert len({c.id for c in first}) == 1 and first[0].id.startswith("chatcmpl-sim-")
    assert first[0].choices[0].delta.role == "assistant"
    assert first[0].choices[0].delta.content == ""
    assert all(c.object == "chat.completion.chunk" and c.model == "sim-swift" for c in first)
    assert all(c.usage is None for c in first[:-1])
    assert first[-2].choices[0].finish_reason == "stop"
    assert first[-1].choices == []


@pytest.mark.asyncio
async def test_usage_matches_streamed_tokens(server: tuple[SimulatorApp, str]) -> None:
    _, base_url = server
    chunks = await collect(base_url, length=30)
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    usage = chunks[-1].usage
    assert usage.completion_tokens == len(content_chunks) == 30
    assert usage.prompt_tokens == sum(count_tokens(m["content"]) for m in MESSAGES)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details.reasoning_tokens == 0


@pytest.mark.asyncio
async def test_max_tokens_truncates_with_length_reason(server: tuple[SimulatorApp, str]) -> None:
    _, base_url = server
    async with client(base_url) as api:
        full = await api.chat.completions.create(model="sim-swift", messages=MESSAGES, extra_body={"simulator": FAST})
        capped = await api.chat.completions.create(
            model="sim-swift", messages=MESSAGES, max_tokens=5, extra_body={"simulator": FAST}
        )
    assert full.choices[0].finish_reason == "stop"
    assert capped.choices[0].finish_reason == "length"
    assert capped.usage.completion_tokens == 5
    assert full.choices[0].message.content.startswith(capped.choices[0].message.content)


@pytest.mark.asyncio
@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
async def test_reasoning_streams_before_content(server: tuple[SimulatorApp, str], field: str) -> None:
    _, base_url = server
    chunks = await collect(base_url, model="sim-reasoner", length=20, reasoning_length=8, reasoning_field=field)
    kinds = []
    for chunk in chunks:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if (delta.model_extra or {}).get(field):
            kinds.append("reasoning")
        elif delta.content:
            kinds.append("content")
    assert kinds == ["reasoning"] * 8 + ["content"] * 20
    usage = chunks[-1].usage
    assert usage.completion_tokens == 28
    assert usage.completion_tokens_details.reasoning_tokens == 8


@pytest.mark.asyncio
async def test_rate_limit_has_retry_after(server: tuple[SimulatorApp, str]) -> None:
    _, base_url = server
    with pytest.raises(openai.RateLimitError) as caught:
        await collect(base_url, fail={"status": 429, "retry_after": 1.5})
    assert caught.value.response.headers["retry-after"] == "1.5"
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.type == "requests"


@pytest.mark.asyncio
async def test_quota_exhausted_is_distinct(server: tuple[SimulatorApp, str]) -> None:
    _, base_url = server
    with pytest.raises(openai.RateLimitError) as caught:
        await collect(base_url, fail={"status": 429, "quota": True})
    assert caught.value.code == "insufficient_quota"
    assert "retry-after" not in caught.value.response.headers


@pytest.mark.asyncio
async def test_fail_times_then_succeeds_for_sdk_retries(server: tuple[SimulatorApp, str]) -> None:
    app, base_url = server
    fail = {"status": 503, "times": 2, "fail_key": "retry-test", "retry_after_ms": 5}
    before = app.request_count
    async with client(base_url, max_retries=2) as api:
        result = await api.chat.completions.create(
            model="sim-swift", messages=MESSAGES, extra_body={"simulator": {**FAST, "fail": fail}}
        )
    assert result.choices[0].finish_reason == "stop"
    assert app.request_count - before == 3


@pytest.mark.asyncio
async def test_cut_after_ends_without_usage(server: tuple[SimulatorApp, str]) -> None:
    _, base_url = server
    chunks = await collect(base_url, fail={"cut_after": 3})
    assert len(chunks) == 4  # role chunk + 3 tokens; the half-sent 4th never parses
    assert all(c.usage is None and c.choices[0].finish_reason is None for c in chunks)


@pytest.mark.parametrize("partial", [True, False])
def test_a_cut_stream_ends_in_half_of_its_next_event_or_at_a_boundary(server, partial: bool) -> None:
    _, base_url = server
    fail = {"cut_after": 3, "partial": partial}
    response = raw_stream(base_url, {**FAST, "fail": fail})
    *whole, tail = response.content.split(b"\n\n")
    assert len(whole) == 4  # the role chunk and three tokens
    assert all(json.loads(event.removeprefix(b"data: ")) for event in whole)
    if partial:
        assert tail.startswith(b'data: {"id"')
        with pytest.raises(ValueError):
            json.loads(tail.removeprefix(b"data: "))
    else:
        assert tail == b""


def test_a_far_first_token_is_kept_alive_with_comments(server) -> None:
    """DeepSeek's habit: an SSE comment every second while a queued stream waits for its first token."""
    _, base_url = server
    response = raw_stream(base_url, {"ttft_ms": 2200, "tokens_per_s": 5000, "length": 1})
    events = response.content.split(b"\n\n")
    assert events[1:3] == [b": keep-alive", b": keep-alive"]
    assert events[3].startswith(b"data: {")


def raw_stream(base_url: str, simulator: dict[str, Any]) -> httpx.Response:
    body = {"model": "sim-swift", "messages": MESSAGES, "stream": True, "simulator": simulator}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    return httpx.post(base_url + "/v1/chat/completions", json=body, headers=headers, timeout=10)


@pytest.mark.asyncio
async def test_dropped_connection_raises(server: tuple[SimulatorApp, str]) -> None:
    _, base_url = server
    with pytest.raises(openai.APIConnectionError):
        await collect(base_url, fail={"cut_after": 3, "drop": True})


@pytest.mark.asyncio
async def test_error_after_raises_api_error(server: tuple[SimulatorApp, str]) -> None:
    _, base_url = server
    with pytest.raises(openai.APIError) as caught:
        await collect(base_url, fail={"error_after": 2})
    assert "server had an error" in caught.value.message


@pytest.mark.asyncio
async def test_wrong_key_is_401_without_echo(server: tuple[SimulatorApp, str]) -> None:
    _, base_url = server
    async with client(base_url, api_key="sk-wrong-secret") as api:
        with pytest.raises(openai.AuthenticationError) as caught:
            await api.models.list()
    assert caught.value.code == "invalid_api_key"
    assert "sk-wrong-secret" not in caught.value.response.text


@pytest.mark.asyncio
async def test_unknown_model_is_404(server: tuple[SimulatorApp, str]) -> None:
    _, base_url = server
    async with client(base_url) as api:
        with pytest.raises(openai.NotFoundError) as caught:
            await api.chat.completions.create(model="sim-nope", messages=MESSAGES)
    assert caught.value.code == "model_not_found"


def test_bad_json_is_400(server: tuple[SimulatorApp, str]) -> None:
    _, base_url = server
    response = httpx.post(
        base_url + "/v1/chat/completions",
        content=b"{not json",
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_pacing_follows_tokens_per_s() -> None:
    """The schedule the responder sleeps to: the first token after ttft, then one every 1/tokens_per_s."""
    body = {"model": "sim-swift", "messages": MESSAGES, "simulator": {"ttft_ms": 50, "tokens_per_s": 200, "length": 21}}
    plan = build_plan(body, resolve_model(body), None)
    assert (plan.ttft_s, plan.interval_s, len(plan.tokens)) == (0.05, 0.005, 21)


@pytest.mark.asyncio
async def test_client_cancel_stops_stalled_stream() -> None:
    app = create_app()
    with serve(app) as base_url:
        async with AsyncOpenAI(base_url=base_url + "/v1", api_key="x", max_retries=0) as api:
            stream = await api.chat.completions.create(
                model="sim-swift",
                messages=MESSAGES,
                stream=True,
                extra_body={"simulator": {**FAST, "fail": {"stall_after": 2, "stall_s": 30}}},
            )
            received = [await stream.__anext__() for _ in range(3)]
            assert app.active_streams == 1
            await stream.close()
        deadline = time.monotonic() + 1.0
        while app.active_streams and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert len(received) == 3
        assert app.active_streams == 0
        assert app.cancelled_streams == 1
