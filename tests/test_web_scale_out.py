"""Web processes scale out behind the Redis channel layer: a stream reaches a browser whichever web
process holds its socket. Two uvicorn processes, one Celery worker, one PostgreSQL and one Redis, as
production runs them with more than one web replica."""

from __future__ import annotations

import asyncio

import pytest

from tests.live_api import call_api, events_until_done, model_ids_named, new_canvas, open_socket
from tests.stack import live_stack

pytestmark = [pytest.mark.services, pytest.mark.asyncio]


@pytest.fixture(scope="module")
def two_webs(tmp_path_factory):
    with live_stack("services", tmp_path_factory.mktemp("two-webs"), web_processes=2) as stack:
        yield stack


def deltas_by_node(events: list[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for event in events:
        if event["type"] == "node.delta":
            found.setdefault(event["node"], []).append(event)
    return found


async def test_a_stream_reaches_sockets_on_either_web_process(two_webs):
    stack = two_webs
    (second_ws,) = stack.more_ws_urls
    canvas_id = await new_canvas(stack, "Two web processes")
    model_ids = await model_ids_named(stack, "sim-swift", "sim-reasoner")
    on_first, on_second = [], []
    async with (
        open_socket(stack, canvas_id) as first,
        open_socket(stack, canvas_id, second_ws) as second,
    ):
        body = await call_api(
            stack, "POST", f"/api/canvases/{canvas_id}/prompts", json={"text": "Scale out.", "models": model_ids}
        )
        responses = {r["id"] for r in body["responses"]}
        await asyncio.gather(
            events_until_done(stack, first, responses, on_first),
            events_until_done(stack, second, responses, on_second),
        )

    stored = {node_id: await call_api(stack, "GET", f"/api/nodes/{node_id}") for node_id in responses}
    for events in (on_first, on_second):
        deltas = deltas_by_node(events)
        assert set(deltas) == responses
        for node_id, node_deltas in deltas.items():
            assert [d["seq"] for d in node_deltas] == list(range(1, len(node_deltas) + 1))
            assert "".join(d["text"] for d in node_deltas) == stored[node_id]["text"] != ""
            assert "".join(d["reasoning"] for d in node_deltas) == stored[node_id]["reasoning"]
        done = {e["node"]["id"]: e["node"] for e in events if e["type"] == "node.done"}
        assert {node_id: node["text"] for node_id, node in done.items()} == {n: stored[n]["text"] for n in responses}
    # The same deltas, whichever process relayed them.
    assert deltas_by_node(on_first) == deltas_by_node(on_second)
