"""The whole stack as real processes: HTTP API, WebSocket and runs, in both deployment shapes.

``embedded`` is one uvicorn process on SQLite; ``services`` is uvicorn plus a Celery worker on
PostgreSQL and Redis. The only provider is the built-in simulator, reached over real HTTP.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.stack import LiveStack, live_stack

EVENT_TIMEOUT_S = 60.0
FINAL_EVENTS = ("node.done", "node.error")
pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def embedded_stack(tmp_path_factory):
    with live_stack("embedded", tmp_path_factory.mktemp("embedded")) as stack:
        yield stack


@pytest.fixture(scope="module")
def services_stack(tmp_path_factory):
    with live_stack("services", tmp_path_factory.mktemp("services")) as stack:
        yield stack


@pytest.fixture(params=["embedded", pytest.param("services", marks=pytest.mark.services)])
def stack(request) -> LiveStack:
    return request.getfixturevalue(f"{request.param}_stack")


async def _api(stack: LiveStack, method: str, path: str, **kwargs) -> dict | list:
    async with httpx.AsyncClient(base_url=stack.base_url, headers=stack.headers, timeout=10.0) as client:
        response = await client.request(method, path, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


async def _model_ids(stack: LiveStack, *names: str) -> list[str]:
    by_name = {m["model"]: m["id"] for m in await _api(stack, "GET", "/api/models")}
    return [by_name[name] for name in names]


async def _new_canvas(stack: LiveStack, title: str) -> str:
    return (await _api(stack, "POST", "/api/canvases", json={"title": title}))["id"]


def _socket(stack: LiveStack, canvas_id: str):
    return connect(stack.canvas_ws_url(canvas_id), additional_headers=stack.headers, open_timeout=10)


async def _events_until_done(ws: ClientConnection, response_ids: set[str], into: list[dict]) -> list[dict]:
    """Read events until every response in `response_ids` has ended; return them all."""
    ended: set[str] = set()
    async with asyncio.timeout(EVENT_TIMEOUT_S):
        while ended != response_ids:
            event = json.loads(await ws.recv())
            into.append(event)
            if event["type"] in FINAL_EVENTS and event["node"]["id"] in response_ids:
                ended.add(event["node"]["id"])
    return into


async def _simulator_answer(stack: LiveStack, model: str, text: str) -> tuple[str, str, openai.types.CompletionUsage]:
    """Ask the app's simulator directly, as the engine does: same model, same messages."""
    client = openai.AsyncOpenAI(base_url=f"{stack.base_url}/simulator/v1", api_key="unused", max_retries=0)
    answer, reasoning, usage = [], [], None
    async with client:
        stream = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": text}],
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in stream:
            usage = chunk.usage or usage
            for choice in chunk.choices:
                answer.append(choice.delta.content or "")
                reasoning.append((choice.delta.model_extra or {}).get("reasoning") or "")
    assert usage is not None
    return "".join(answer), "".join(reasoning), usage


async def _fan_out(stack: LiveStack, text: str, models: list[str]) -> tuple[dict, list[dict]]:
    """Submit a prompt with the socket already open; return the prompt's 202 body and every event."""
    canvas_id = await _new_canvas(stack, f"Integration {stack.mode}")
    model_ids = await _model_ids(stack, *models)
    events: list[dict] = []
    async with _socket(stack, canvas_id) as ws:
        body = await _api(stack, "POST", f"/api/canvases/{canvas_id}/prompts",
                          json={"text": text, "models": model_ids, "parents": []})
        await _events_until_done(ws, {r["id"] for r in body["responses"]}, events)
    return body, events


async def test_a_prompt_streams_two_models_side_by_side(stack):
    text = f"Compare two simulated models ({stack.mode})."
    body, events = await _fan_out(stack, text, ["sim-swift", "sim-reasoner"])

    assert body["prompt"]["text"] == text
    assert len(body["responses"]) == 2
    for response in body["responses"]:
        node_id = response["id"]
        deltas = [e for e in events if e["type"] == "node.delta" and e["node"] == node_id]
        finals = [e for e in events if e["type"] in FINAL_EVENTS and e["node"]["id"] == node_id]
        stored = await _api(stack, "GET", f"/api/nodes/{node_id}")

        assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
        assert len(finals) == 1 and finals[0]["type"] == "node.done"
        assert stored["status"] == "done"
        streamed_text = "".join(d["text"] for d in deltas)
        streamed_reasoning = "".join(d["reasoning"] for d in deltas)
        assert streamed_text == stored["text"] == finals[0]["node"]["text"]
        assert streamed_reasoning == stored["reasoning"] == finals[0]["node"]["reasoning"]
        assert stored["seq"] == len(deltas)


async def test_it_keeps_reasoning_apart_and_stores_the_providers_usage(stack):
    text = f"Explain the difference ({stack.mode})."
    body, _ = await _fan_out(stack, text, ["sim-swift", "sim-reasoner"])

    models = {m["id"]: m["model"] for m in await _api(stack, "GET", "/api/models")}
    for response in body["responses"]:
        stored = await _api(stack, "GET", f"/api/nodes/{response['id']}")
        model = models[stored["model"]]
        answer, reasoning, usage = await _simulator_answer(stack, model, text)

        assert stored["text"] == answer
        assert stored["reasoning"] == reasoning
        if model == "sim-reasoner":
            assert reasoning and reasoning not in stored["text"]
        else:
            assert reasoning == ""
        metrics = stored["metrics"]
        assert metrics["usage_estimated"] is False
        assert metrics["input_tokens"] == usage.prompt_tokens
        assert metrics["output_tokens"] == usage.completion_tokens
        details = usage.completion_tokens_details
        assert metrics["reasoning_tokens"] == ((details.reasoning_tokens if details else None) or 0)


async def test_a_client_that_joins_mid_stream_ends_with_the_stored_text(stack):
    canvas_id = await _new_canvas(stack, f"Reconnect {stack.mode}")
    [steady] = await _model_ids(stack, "sim-steady")
    async with _socket(stack, canvas_id) as first:
        body = await _api(stack, "POST", f"/api/canvases/{canvas_id}/prompts",
                          json={"text": "Take your time.", "models": [steady], "parents": []})
        node_id = body["responses"][0]["id"]
        async with asyncio.timeout(EVENT_TIMEOUT_S):
            while True:  # wait for some text, then join from a second socket while the rest streams
                event = json.loads(await first.recv())
                if event["type"] == "node.delta" and event["seq"] >= 3:
                    break
        late_events: list[dict] = []
        async with _socket(stack, canvas_id) as late:
            await _events_until_done(late, {node_id}, late_events)

    snapshot = late_events[0]
    assert snapshot["type"] == "node.snapshot" and snapshot["node"]["id"] == node_id
    text, seq = snapshot["node"]["text"], snapshot["node"]["seq"]
    assert seq >= 3 and text
    for event in late_events[1:]:
        if event["type"] == "node.delta" and event["node"] == node_id and event["seq"] > seq:
            assert event["seq"] == seq + 1, "a gap in the deltas after the snapshot"
            text, seq = text + event["text"], event["seq"]
    stored = await _api(stack, "GET", f"/api/nodes/{node_id}")
    assert stored["status"] == "done"
    assert text == stored["text"] == late_events[-1]["node"]["text"]
    assert seq == stored["seq"]
