"""The whole stack as real processes: HTTP API, WebSocket and runs, in both deployment shapes.

``embedded`` is one uvicorn process on SQLite; ``services`` is uvicorn plus a Celery worker on
PostgreSQL and Redis. The only provider is the built-in simulator, reached over real HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from pathlib import Path

import httpx
import openai
import psycopg
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.live_api import (
    EVENT_TIMEOUT_S,
    FINAL_EVENTS,
    call_api,
    events_until_done,
    model_ids_named,
    new_canvas,
    open_socket,
)
from tests.stack import LiveStack, live_stack, ws_events


@pytest.fixture(scope="module", params=["embedded", pytest.param("services", marks=pytest.mark.services)])
def stack(request, tmp_path_factory):
    with live_stack(request.param, tmp_path_factory.mktemp(request.param)) as stack:
        yield stack


@pytest.fixture(scope="module")
def two_models(stack) -> dict:
    """One prompt fanned out to sim-swift and sim-reasoner, watched over a WebSocket opened before
    submitting, beside what the simulator answers when asked the same directly."""
    text = f"Compare two simulated models ({stack.mode})."
    models = ["sim-swift", "sim-reasoner"]

    async def run_and_ask_directly():
        return await asyncio.gather(_fan_out(stack, text, models), *(_simulator_answer(stack, m, text) for m in models))

    (body, events), *direct = asyncio.run(run_and_ask_directly())

    async def stored():
        names = {m["id"]: m["model"] for m in await call_api(stack, "GET", "/api/models")}
        nodes = await asyncio.gather(*(call_api(stack, "GET", f"/api/nodes/{r['id']}") for r in body["responses"]))
        return {names[node["model"]]: node for node in nodes}

    nodes = asyncio.run(stored())
    answers = [(model, nodes[model], answer) for model, answer in zip(models, direct, strict=True)]
    return {"text": text, "body": body, "events": events, "answers": answers}


async def _simulator_answer(stack: LiveStack, model: str, text: str) -> tuple[str, str, openai.types.CompletionUsage]:
    """Ask the app's simulator directly, as the engine does: same model, same messages."""
    client = openai.AsyncOpenAI(base_url=f"{stack.base_url}/simulator/v1", api_key=stack.token, max_retries=0)
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
    canvas_id = await new_canvas(stack, f"Integration {stack.mode}")
    model_ids = await model_ids_named(stack, *models)
    events: list[dict] = []
    async with open_socket(stack, canvas_id) as ws:
        body = await call_api(
            stack, "POST", f"/api/canvases/{canvas_id}/prompts", json={"text": text, "models": model_ids, "parents": []}
        )
        await events_until_done(stack, ws, {r["id"] for r in body["responses"]}, events)
    return body, events


def test_a_prompt_streams_two_models_side_by_side(two_models):
    body, events = two_models["body"], two_models["events"]

    assert body["prompt"]["text"] == two_models["text"]
    assert len(body["responses"]) == 2
    for _, stored, _ in two_models["answers"]:
        deltas = [e for e in events if e["type"] == "node.delta" and e["node"] == stored["id"]]
        finals = [e for e in events if e["type"] in FINAL_EVENTS and e["node"]["id"] == stored["id"]]

        assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
        assert len(finals) == 1 and finals[0]["type"] == "node.done"
        assert stored["status"] == "done"
        assert "".join(d["text"] for d in deltas) == stored["text"] == finals[0]["node"]["text"]
        assert "".join(d["reasoning"] for d in deltas) == stored["reasoning"] == finals[0]["node"]["reasoning"]
        assert stored["seq"] == len(deltas)


def test_it_keeps_reasoning_apart(two_models):
    answers = {model: (stored, direct) for model, stored, direct in two_models["answers"]}

    reasoner, (_, reasoning, _) = answers["sim-reasoner"]
    assert reasoner["reasoning"] == reasoning != ""
    assert reasoning not in reasoner["text"]
    swift, _ = answers["sim-swift"]
    assert swift["reasoning"] == ""


def test_it_stores_the_answer_and_usage_the_provider_reported(two_models):
    for _, stored, (answer, _, usage) in two_models["answers"]:
        metrics = stored["metrics"]
        assert stored["text"] == answer
        assert metrics["usage_estimated"] is False
        assert metrics["input_tokens"] == usage.prompt_tokens
        assert metrics["output_tokens"] == usage.completion_tokens
        details = usage.completion_tokens_details
        assert metrics["reasoning_tokens"] == ((details.reasoning_tokens if details else None) or 0)


@pytest.mark.asyncio
async def test_a_client_that_joins_mid_stream_ends_with_the_stored_text(stack):
    canvas_id = await new_canvas(stack, f"Reconnect {stack.mode}")
    [steady] = await model_ids_named(stack, "sim-steady")
    async with open_socket(stack, canvas_id) as first:
        body = await call_api(
            stack,
            "POST",
            f"/api/canvases/{canvas_id}/prompts",
            json={"text": "Take your time.", "models": [steady], "parents": []},
        )
        node_id = body["responses"][0]["id"]
        async with asyncio.timeout(EVENT_TIMEOUT_S):
            while not any(  # wait for some text, then join from a second socket while the rest streams
                event["type"] == "node.delta" and event["seq"] >= 3 for event in ws_events(await first.recv())
            ):
                pass
        late_events: list[dict] = []
        async with open_socket(stack, canvas_id) as late:
            await events_until_done(stack, late, {node_id}, late_events)
        # Read the first socket to its end too: a client that stops reading delays its own close.
        await events_until_done(stack, first, {node_id}, [])

    snapshot = late_events[0]
    assert snapshot["type"] == "node.snapshot" and snapshot["node"]["id"] == node_id
    text, seq = snapshot["node"]["text"], snapshot["node"]["seq"]
    assert seq >= 3 and text
    for event in late_events[1:]:
        if event["type"] == "node.delta" and event["node"] == node_id and event["seq"] > seq:
            assert event["seq"] == seq + 1, "a gap in the deltas after the snapshot"
            text, seq = text + event["text"], event["seq"]
    stored = await call_api(stack, "GET", f"/api/nodes/{node_id}")
    assert stored["status"] == "done"
    assert text == stored["text"] == late_events[-1]["node"]["text"]
    assert seq == stored["seq"]


@contextlib.contextmanager
def final_saves_refused(stack: LiveStack, canvas_id: str):
    """The stack's own database refuses to store an answer of this canvas as done: a fault of Prism's
    own kind (not the model's, not the provider's) in the run's final save."""
    if stack.mode == "embedded":
        where = f"NEW.status = 'done' AND NEW.canvas_id = '{uuid.UUID(canvas_id).hex}'"
        database = sqlite3.connect(Path(stack.env["PRISM_VAR_DIR"]) / "prism.sqlite3", isolation_level=None)
        statements = [
            f"CREATE TRIGGER refuse_done BEFORE UPDATE ON canvas_node FOR EACH ROW WHEN {where}"
            " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ]
        undo = ["DROP TRIGGER refuse_done"]
    else:
        where = f"NEW.status = 'done' AND NEW.canvas_id = '{canvas_id}'"
        database = psycopg.connect(stack.env["DATABASE_URL"], autocommit=True)
        statements = [
            "CREATE FUNCTION refuse_done() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$",
            f"CREATE TRIGGER refuse_done BEFORE UPDATE ON canvas_node FOR EACH ROW WHEN ({where})"
            " EXECUTE FUNCTION refuse_done()",
        ]
        undo = ["DROP TRIGGER refuse_done ON canvas_node", "DROP FUNCTION refuse_done()"]
    with contextlib.closing(database):
        for statement in statements:
            database.execute(statement)
        try:
            yield
        finally:
            for statement in undo:
                database.execute(statement)


@pytest.mark.asyncio
async def test_a_run_whose_final_save_is_refused_ends_as_a_server_error_with_its_text(stack):
    canvas_id = await new_canvas(stack, f"Refused save {stack.mode}")
    [swift] = await model_ids_named(stack, "sim-swift")
    events: list[dict] = []
    with final_saves_refused(stack, canvas_id):
        async with open_socket(stack, canvas_id) as ws:
            body = await call_api(
                stack,
                "POST",
                f"/api/canvases/{canvas_id}/prompts",
                json={"text": "Say something.", "models": [swift], "parents": []},
            )
            node_id = body["responses"][0]["id"]
            await events_until_done(stack, ws, {node_id}, events)

    streamed = "".join(e["text"] for e in events if e["type"] == "node.delta" and e["node"] == node_id)
    final = events[-1]
    assert final["type"] == "node.error" and final["node"]["error"]["code"] == "server"
    stored = await call_api(stack, "GET", f"/api/nodes/{node_id}")
    assert (stored["status"], stored["error"]["code"]) == ("error", "server")
    assert streamed and stored["text"] == streamed == final["node"]["text"]


async def _browser_session(stack: LiveStack) -> httpx.AsyncClient:
    """A browser signed in on the sign-in page, as user u."""
    browser = httpx.AsyncClient(base_url=stack.base_url, timeout=10.0)
    await browser.get("/accounts/login/")
    form = {"username": stack.username, "password": stack.password, "csrfmiddlewaretoken": browser.cookies["csrftoken"]}
    signed_in = await browser.post("/accounts/login/", data=form)
    assert signed_in.status_code == 302, f"{signed_in.text[-2000:]}\n{stack.log_tails()}"
    return browser


@pytest.mark.asyncio
async def test_signing_out_closes_that_browsers_socket_only(stack):
    """The sign-out reaches the socket through the channel layer: in-process (embedded) or Redis (services)."""
    canvas_id = await new_canvas(stack, f"Signing out {stack.mode}")
    leaving, staying = await _browser_session(stack), await _browser_session(stack)

    def socket_of(browser: httpx.AsyncClient):
        headers = {"Cookie": f"sessionid={browser.cookies['sessionid']}", "Origin": stack.base_url}
        return connect(stack.canvas_ws_url(canvas_id), additional_headers=headers, open_timeout=10)

    try:
        async with socket_of(leaving) as closing, socket_of(staying) as open_one:
            form = {"csrfmiddlewaretoken": leaving.cookies["csrftoken"]}
            assert (await leaving.post("/accounts/logout/", data=form)).status_code == 302

            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(EVENT_TIMEOUT_S):
                    while True:
                        await closing.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
            async with asyncio.timeout(EVENT_TIMEOUT_S):
                await (await open_one.ping())
    finally:
        await leaving.aclose()
        await staying.aclose()
