"""The run queue between the web processes and the workers (engine.run_queue): prompts pushed the way
engine.dispatch pushes them run on the loop that serves the queue, a worker runs at most its capacity of
prompts and leaves the rest in the list for another, and a stopping worker takes no more prompts and
lets the ones it runs end. On a Redis database of the test's own and the simulator over HTTP.

The last test runs the production shape: a real Celery worker process, sent SIGTERM mid-stream (as
`docker compose stop` does), ends the prompt it runs before it exits."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

import pytest
import redis
from asgiref.sync import sync_to_async

from canvas.models import Node, NodeStatus
from canvas.services import create_prompt
from engine import run_queue
from engine.run_queue import RunQueue
from tests.live_api import call_api, model_ids_named, new_canvas
from tests.stack import _redis_database, live_stack, proc_stat

pytestmark = pytest.mark.usefixtures("close_runner_connections")


@sync_to_async
def ask(user, canvas, model, **simulator: Any) -> Node:
    model.default_params = {"simulator": {"ttft_ms": 5, "tokens_per_s": 400, **simulator}}
    model.save(update_fields=["default_params"])
    return create_prompt(canvas, user, "Queue me", [model], []).responses[0]


@sync_to_async
def status_of(node: Node) -> str:
    return Node.objects.get(id=node.id).status


async def until(check, what: str, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def served(url: str, capacity: int):
    """A queue served on this loop for the block, then stopped (its prompts left to end)."""
    queue = RunQueue(url, capacity=capacity)
    serving = asyncio.create_task(queue.serve())
    try:
        yield queue
    finally:
        await queue.stop()
        await serving


def push(url: str, *nodes: Node) -> None:
    client = redis.Redis.from_url(url)
    for node in nodes:
        client.rpush(run_queue.KEY, run_queue.encode([str(node.id)]))
    client.close()


def waiting(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return client.llen(run_queue.KEY)
    finally:
        client.close()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_full_worker_leaves_prompts_in_the_list_until_a_prompt_ends(alice, alice_canvas, sim_models) -> None:
    with _redis_database() as url:
        # Two models: a run reads its model's settings when it starts.
        first = await ask(alice, alice_canvas, sim_models["sim-steady"], length=60, tokens_per_s=150)  # ~0.4 s
        second = await ask(alice, alice_canvas, sim_models["sim-swift"], length=5)
        push(url, first, second)
        async with served(url, capacity=1):
            await until(lambda: _is(first, NodeStatus.STREAMING), "the first prompt to stream")
            # Full: the second prompt is still in the list, for whichever worker has room.
            assert await status_of(second) == NodeStatus.QUEUED and waiting(url) == 1
            await until(lambda: _is(second, NodeStatus.DONE), "the second prompt, once the first ended")
            assert await status_of(first) == NodeStatus.DONE and waiting(url) == 0


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_worker_pops_a_burst_at_once_up_to_its_room(alice, alice_canvas, sim_models) -> None:
    model = sim_models["sim-swift"]
    with _redis_database() as url:
        nodes = [await ask(alice, alice_canvas, model, length=40, tokens_per_s=100) for _ in range(5)]
        push(url, *nodes)
        async with served(url, capacity=3):
            await until(lambda: _count(nodes, NodeStatus.STREAMING, 3), "three prompts streaming")
            assert waiting(url) == 2  # two left for another worker while this one is full
            await until(lambda: _count(nodes, NodeStatus.DONE, 5), "every prompt to end")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_stopping_worker_takes_no_more_prompts_and_lets_its_runs_end(alice, alice_canvas, sim_models) -> None:
    with _redis_database() as url:
        # Two models: a run reads its model's settings when it starts.
        running = await ask(alice, alice_canvas, sim_models["sim-steady"], length=150, tokens_per_s=100)  # ~1.5 s
        later = await ask(alice, alice_canvas, sim_models["sim-swift"], length=5)
        push(url, running)
        queue = RunQueue(url, capacity=10)
        serving = asyncio.create_task(queue.serve())
        await until(lambda: _is(running, NodeStatus.STREAMING), "the prompt to stream")
        stopping = asyncio.create_task(queue.stop())
        await asyncio.wait_for(serving, run_queue.POLL_S + 1)  # it stops popping at once...
        assert await status_of(running) == NodeStatus.STREAMING and not stopping.done()  # ...not running
        push(url, later)
        await stopping
        assert await status_of(running) == NodeStatus.DONE  # stop() returned only once it ended
        assert await status_of(later) == NodeStatus.QUEUED and waiting(url) == 1  # left for another worker


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_entry_that_is_not_a_prompt_is_dropped_and_the_queue_goes_on(alice, alice_canvas, sim_models) -> None:
    with _redis_database() as url:
        node = await ask(alice, alice_canvas, sim_models["sim-swift"], length=5)
        client = redis.Redis.from_url(url)
        client.rpush(run_queue.KEY, b"not json", b'{"a": 1}', b'["a", 1]')
        client.close()
        push(url, node)
        async with served(url, capacity=10):
            await until(lambda: _is(node, NodeStatus.DONE), "the prompt after the bad entries")
            assert waiting(url) == 0


async def _is(node: Node, status: str) -> bool:
    return await status_of(node) == status


async def _count(nodes: list[Node], status: str, at_least: int) -> bool:
    return sum([await status_of(node) == status for node in nodes]) >= at_least


def _exited(pid: int) -> bool:
    """Gone, or a zombie its parent (this test's stack) has not reaped yet."""
    try:
        return proc_stat(f"/proc/{pid}/stat")[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.asyncio
async def test_a_worker_sent_sigterm_mid_stream_ends_its_prompt_before_it_exits(tmp_path) -> None:
    with live_stack("services", tmp_path) as stack:
        canvas = await new_canvas(stack, "Redeploy")
        [model] = await model_ids_named(stack, "sim-steady")  # 80 tokens at 25 a second
        body = {"text": "Go", "models": [model]}
        posted = await call_api(stack, "POST", f"/api/canvases/{canvas}/prompts", json=body)
        node = posted["responses"][0]["id"]

        async def reaches(status: str) -> bool:
            return (await call_api(stack, "GET", f"/api/nodes/{node}"))["status"] == status

        await until(lambda: reaches("streaming"), "the prompt to stream")
        worker = stack.pids["worker"]
        os.kill(worker, signal.SIGTERM)
        # No other worker and no sweeper runs here: only the stopping worker can end the run.
        await until(lambda: reaches("done"), "the stopping worker to end the run", timeout=30)
        await until(lambda: asyncio.sleep(0, _exited(worker)), "the worker to exit once it had", timeout=30)
        answer = await call_api(stack, "GET", f"/api/nodes/{node}")
        assert answer["metrics"]["output_tokens"] and answer["text"], answer
