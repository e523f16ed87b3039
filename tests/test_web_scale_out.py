"""Web processes scale out behind the Redis channel layer: a stream reaches a browser whichever web
process holds its socket, and a burst of prompts is shared among them. Two uvicorn processes (on two
ports, or two workers of one uvicorn on one port: WEB_CONCURRENCY), one Celery worker, one PostgreSQL
and one Redis, as production runs them."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import httpx
import pytest

from tests.live_api import call_api, events_until_done, model_ids_named, new_canvas, open_socket
from tests.stack import live_stack, proc_stat

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


def http_url(ws_url: str) -> str:
    return ws_url.replace("ws://", "http://", 1)


async def post_prompt(stack, base_url: str, canvas_id: str, model_id: str, text: str) -> str:
    """Post a one-model prompt to the web process at `base_url`; its response node's id."""
    async with httpx.AsyncClient(base_url=base_url, headers=stack.headers, timeout=30.0) as client:
        response = await client.post(f"/api/canvases/{canvas_id}/prompts", json={"text": text, "models": [model_id]})
    assert response.status_code == 202, f"{response.status_code} {response.text}\n{stack.log_tails()}"
    return response.json()["responses"][0]["id"]


async def burst_over(stack, sockets_at: list[str], posts_to: list[str]) -> None:
    """A prompt per canvas, all at once: canvas i's socket on the process at sockets_at[i], its prompt posted
    to posts_to[i]. Every stream must reach its socket whole, in order, and end as stored."""
    (model_id,) = await model_ids_named(stack, "sim-swift")
    canvases = [await new_canvas(stack, f"Burst {i}") for i in range(len(sockets_at))]
    async with contextlib.AsyncExitStack() as opened:
        sockets = [
            await opened.enter_async_context(open_socket(stack, canvas_id, ws_url))
            for canvas_id, ws_url in zip(canvases, sockets_at, strict=True)
        ]
        posted = [
            post_prompt(stack, http_url(base), canvas_id, model_id, f"Burst prompt {i}.")
            for i, (canvas_id, base) in enumerate(zip(canvases, posts_to, strict=True))
        ]
        node_ids = await asyncio.gather(*posted)
        received: list[list[dict]] = [[] for _ in canvases]
        await asyncio.gather(
            *(
                events_until_done(stack, ws, {node_id}, into)
                for ws, node_id, into in zip(sockets, node_ids, received, strict=True)
            )
        )
    for node_id, events in zip(node_ids, received, strict=True):
        stored = await call_api(stack, "GET", f"/api/nodes/{node_id}")
        deltas = deltas_by_node(events).get(node_id, [])
        assert stored["status"] == "done", stored
        assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
        assert "".join(d["text"] for d in deltas) == stored["text"] != ""


async def test_a_burst_posted_to_one_process_reaches_sockets_held_by_the_other(two_webs):
    stack = two_webs
    first, second = stack.ws_url, *stack.more_ws_urls
    # Half the canvases watched on each process, every prompt posted to the process that does not hold
    # its canvas's socket.
    sockets_at = [first, second] * 5
    posts_to = [second, first] * 5

    await burst_over(stack, sockets_at, posts_to)


@pytest.fixture(scope="module")
def web_concurrency_2(tmp_path_factory):
    with live_stack("services", tmp_path_factory.mktemp("web-concurrency"), env={"WEB_CONCURRENCY": "2"}) as stack:
        yield stack


def uvicorn_workers(pid: int) -> list[int]:
    """The processes uvicorn started to serve (its children other than multiprocessing's resource tracker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if int(proc_stat(stat)[1]) == pid:
                if "spawn_main" in (stat.parent / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(stat.parent.name))
    return found


def sockets_connected_to(pid: int, port: int) -> int:
    """How many established TCP connections on `port` the process holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    established = 0
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
            if local_port == port and state == "01" and inode in inodes:
                established += 1
    return established


async def test_web_concurrency_starts_that_many_processes_which_share_the_port_and_a_burst(web_concurrency_2):
    stack = web_concurrency_2
    workers = uvicorn_workers(stack.pids["web"])
    assert len(workers) == 2, workers
    port = int(stack.base_url.rsplit(":", 1)[1])
    canvases = [await new_canvas(stack, f"Shared port {i}") for i in range(20)]
    async with contextlib.AsyncExitStack() as opened:
        for canvas_id in canvases:
            await opened.enter_async_context(open_socket(stack, canvas_id))
        # The kernel hands each connection to one of the processes accepting on the port: both hold some.
        held = {pid: sockets_connected_to(pid, port) for pid in workers}
        assert sum(held.values()) >= len(canvases) and all(held.values()), held

    await burst_over(stack, [stack.ws_url] * 10, [stack.ws_url] * 10)
