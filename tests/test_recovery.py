"""Every response ends, whatever dies under it: a worker killed mid-stream, Redis restarting, a prompt
delivered twice, a run that never started.

The first half runs in this process (embedded mode, the test database, the simulator over HTTP). The
second half runs the production shape as real processes (uvicorn, a Celery worker, PostgreSQL) on a
Redis server of its own, which the tests kill and restart: the machine's shared Redis is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.db import connections
from django.utils import timezone
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from canvas.models import Node, NodeStatus
from canvas.services import create_prompt
from engine import store
from engine.live import LiveState, RedisLiveStore, live_store
from engine.runner import run_response, run_responses
from engine.sweeper import sweep_stale_runs
from engine.tasks import sweep_stale_runs as sweep_task

# Imported up front: the registry imports the SDK on first use, which would eat into short timeouts.
from providers.adapters import openai_compat  # noqa: F401
from providers.simulator import catalogue
from providers.simulator.plan import build_plan
from tests.listening import TERMINAL, Listener
from tests.stack import ROOT, WORKER_COMMAND, LiveStack, django_shell, live_stack, proc_stat, ws_events

FAST = {"ttft_ms": 5, "tokens_per_s": 400}
EVENT_TIMEOUT_S = 60.0


# --- in process -------------------------------------------------------------------------------------


def joined(deltas: list[dict], up_to: int | None = None) -> str:
    return "".join(d["text"] for d in deltas if up_to is None or d["seq"] <= up_to)


@sync_to_async
def ask(user, canvas, model, **simulator: Any) -> Node:
    model.default_params = {"simulator": {**FAST, **simulator}}
    model.save(update_fields=["default_params"])
    _, responses, _ = create_prompt(canvas, user, "Tell me about recovering streams", [model], [])
    return responses[0]


@sync_to_async
def reload(node: Node) -> Node:
    return Node.objects.get(id=node.id)


@sync_to_async
def claim_as_a_worker_that_then_dies(node: Node, heartbeat_age_s: float = 60.0, **fields) -> None:
    """What a worker leaves behind when it is killed: a streaming node whose heartbeat has stopped."""
    assert store.claim([str(node.id)])
    Node.objects.filter(id=node.id).update(heartbeat_at=timezone.now() - timedelta(seconds=heartbeat_age_s), **fields)


async def until_ended(node: Node, timeout: float = 15.0) -> Node:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        current = await reload(node)
        if current.status not in (NodeStatus.QUEUED, NodeStatus.STREAMING):
            return current
        assert asyncio.get_running_loop().time() < deadline, f"still {current.status}"
        await asyncio.sleep(0.05)


def full_answer(model: str, prompt: str, length: int) -> str:
    """What the simulator streams to the end for this prompt (its text is a function of the request)."""
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "simulator": {"length": length}}
    return "".join(build_plan(body, catalogue.get(model), None).content)


@pytest.mark.usefixtures("close_runner_connections")
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_dead_run_is_interrupted_with_the_newest_text_there_is(alice, alice_canvas, sim_models) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-swift"])
    await claim_as_a_worker_that_then_dies(node, text="Hello", seq=1)
    # The live store was two deltas ahead of the last save when the worker died.
    for seq, text in enumerate(("Hello", ", wor", "ld"), start=1):
        await live_store().append(str(node.id), seq, text, "")
    listener = await Listener(node.canvas_id).open()

    assert await sync_to_async(sweep_stale_runs)() == 1
    await listener.drain()

    node = await reload(node)
    assert (node.status, node.error_code, node.text, node.seq) == ("interrupted", "interrupted", "Hello, world", 3)
    assert node.finished_at is not None
    [final] = listener.terminals
    assert final["type"] == "node.done" and final["node"]["status"] == "interrupted"
    assert final["node"]["text"] == "Hello, world"
    assert await live_store().read(str(node.id)) is None


@pytest.mark.usefixtures("close_runner_connections")
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_run_with_a_fresh_heartbeat_is_left_alone(alice, alice_canvas, sim_models) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-swift"])
    await claim_as_a_worker_that_then_dies(node, heartbeat_age_s=1)

    assert await sync_to_async(sweep_stale_runs)(requeue=True) == 0
    assert (await reload(node)).status == "streaming"


@pytest.mark.usefixtures("close_runner_connections")
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_dead_run_that_streamed_nothing_runs_again_once(alice, alice_canvas, sim_models, simulator_app) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], length=20)
    await claim_as_a_worker_that_then_dies(node)

    assert await sync_to_async(sweep_stale_runs)(requeue=True) == 1
    node = await until_ended(node)

    assert node.status == "done" and node.attempts == 2
    assert node.text == full_answer("sim-swift", "Tell me about recovering streams", 20)
    assert simulator_app.request_count == 1


@pytest.mark.usefixtures("close_runner_connections")
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_run_that_died_twice_without_text_is_interrupted(alice, alice_canvas, sim_models, simulator_app):
    node = await ask(alice, alice_canvas, sim_models["sim-swift"])
    await claim_as_a_worker_that_then_dies(node, attempts=2)

    assert await sync_to_async(sweep_stale_runs)(requeue=True) == 1

    node = await reload(node)
    assert (node.status, node.error_code, node.text) == ("interrupted", "interrupted", "")
    assert simulator_app.request_count == 0


@pytest.mark.usefixtures("close_runner_connections")
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_queued_response_whose_task_was_lost_is_sent_again(alice, alice_canvas, sim_models, simulator_app):
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], length=10)
    await sync_to_async(Node.objects.filter(id=node.id).update)(created_at=timezone.now() - timedelta(minutes=2))

    assert await sync_to_async(sweep_stale_runs)(requeue=True) == 1
    node = await until_ended(node)

    assert node.status == "done" and node.attempts == 1
    assert simulator_app.request_count == 1


@pytest.mark.usefixtures("close_runner_connections")
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_at_embedded_start_up_a_response_that_never_started_is_ended(alice, alice_canvas, sim_models):
    node = await ask(alice, alice_canvas, sim_models["sim-swift"])

    # `make run` sweeps with --all before it serves: nothing of the previous process is running.
    assert await sync_to_async(sweep_stale_runs)(stale_after_s=0) == 1

    node = await reload(node)
    assert (node.status, node.error_code) == ("interrupted", "interrupted")
    assert "never started" in node.error_message


@contextlib.asynccontextmanager
async def serving(app) -> AsyncIterator[None]:
    """The ASGI server's lifespan around the block: what uvicorn does as it starts and stops."""
    inbox: asyncio.Queue = asyncio.Queue()
    outbox: asyncio.Queue = asyncio.Queue()
    lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
        await lifespan


@pytest.mark.usefixtures("close_runner_connections")
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_embedded_server_ends_dead_runs_while_it_serves(alice, alice_canvas, sim_models, settings):
    from config.asgi import application

    assert settings.EMBEDDED
    settings.PRISM_SWEEP_INTERVAL_S = 0.05
    listener = await Listener(alice_canvas.id).open()
    async with serving(application):
        # A run that died inside the serving process: no restart is coming to sweep it.
        node = await ask(alice, alice_canvas, sim_models["sim-swift"])
        await claim_as_a_worker_that_then_dies(node, text="Hello", seq=1)
        ended = await listener.until("node.done", node.id, timeout=10)

    assert ended["node"]["status"] == "interrupted" and ended["node"]["text"] == "Hello"
    node = await reload(node)
    assert (node.status, node.error_code, node.text) == ("interrupted", "interrupted", "Hello")


@pytest.mark.usefixtures("close_runner_connections")
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_run_waiting_to_retry_keeps_its_heartbeat(alice, alice_canvas, sim_models, simulator_app, settings):
    settings.PRISM_STALE_AFTER_S = 3.0  # a beat every second
    fail = {"status": 429, "retry_after": 4, "times": 1, "fail_key": uuid.uuid4().hex}
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], length=10, fail=fail)
    run = asyncio.create_task(run_response(str(node.id)))
    while simulator_app.request_count < 1:  # the refused first attempt: now it waits 4 s to retry
        await asyncio.sleep(0.01)
    claimed = await reload(node)
    while (await reload(node)).heartbeat_at <= claimed.heartbeat_at:
        await asyncio.sleep(0.05)

    assert await sync_to_async(sweep_stale_runs)(stale_after_s=2.5, requeue=True) == 0
    await asyncio.wait_for(run, 20)
    node = await reload(node)
    assert node.status == "done" and node.attempts == 1 and simulator_app.request_count == 2


@pytest.mark.usefixtures("close_runner_connections")
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_run_taken_for_dead_does_not_overwrite_the_ending_it_was_given(alice, alice_canvas, sim_models) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-steady"], tokens_per_s=40, length=60)
    listener = await Listener(node.canvas_id).open()
    run = asyncio.create_task(run_response(str(node.id)))
    await listener.wait_for_deltas(2)

    # As if its heartbeats had stopped reaching the database: the sweeper ends it while it streams on.
    assert await sync_to_async(sweep_stale_runs)(stale_after_s=0) == 1
    interrupted = await reload(node)
    await asyncio.wait_for(run, 20)
    await listener.drain()

    node = await reload(node)
    assert node.status == "interrupted" and (node.text, node.seq) == (interrupted.text, interrupted.seq)
    assert [e["node"]["status"] for e in listener.terminals] == ["interrupted"]


@pytest.mark.usefixtures("close_runner_connections")
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_two_workers_running_one_node_at_once_make_one_request(alice, alice_canvas, sim_models, simulator_app):
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], length=20)
    start = threading.Barrier(2)

    def worker() -> None:  # a thread with a loop of its own, as a second worker process would have
        start.wait()
        asyncio.run(run_response(str(node.id)))
        connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    await asyncio.to_thread(lambda: [thread.join(30) for thread in threads])

    node = await reload(node)
    assert simulator_app.request_count == 1
    assert node.status == "done" and node.attempts == 1


@pytest.mark.usefixtures("close_runner_connections")
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_prompt_delivered_twice_runs_once(alice, alice_canvas, sim_models, simulator_app) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], length=20)
    await run_responses([str(node.id)])
    first = await reload(node)

    await run_responses([str(node.id)])  # popped again (the sweeper sent it again meanwhile)

    again = await reload(node)
    assert simulator_app.request_count == 1
    assert (again.status, again.text, again.seq, again.attempts) == ("done", first.text, first.seq, 1)


def test_a_worker_task_is_never_redelivered_in_a_loop_nor_stopped_by_a_broker_blip() -> None:
    # Acknowledged when it starts (a dead run is the sweeper's to end), never rejected back to the queue.
    assert not sweep_task.acks_late and not sweep_task.reject_on_worker_lost
    assert django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] >= 3600
    assert not django_settings.CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS
    sweep = django_settings.CELERY_BEAT_SCHEDULE["sweep-stale-runs"]
    assert sweep["task"] == "engine.tasks.sweep_stale_runs" and sweep["schedule"] <= 15


@pytest.mark.usefixtures("close_runner_connections")
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_live_state_that_was_lost_is_written_whole_again(alice, alice_canvas, sim_models) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-steady"], tokens_per_s=40, length=80)
    listener = await Listener(node.canvas_id).open()
    run = asyncio.create_task(run_response(str(node.id)))
    await listener.wait_for_deltas(3)

    await live_store().clear(str(node.id))  # what a Redis restart without persistence does
    await listener.wait_for_deltas(len(listener.deltas) + 2)
    live = await live_store().read(str(node.id))
    await asyncio.wait_for(run, 20)
    await listener.drain()

    assert live is not None and live.seq >= 4
    assert live.text == joined(listener.deltas, up_to=live.seq)  # from the first word, not from the restart
    assert (await reload(node)).text == joined(listener.deltas)


# --- a Redis server of the tests' own -------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_redis_live_store_refuses_an_append_out_of_step(private_redis) -> None:
    live = RedisLiveStore(private_redis.url)
    node_id = uuid.uuid4().hex
    assert await live.append(node_id, 1, "Hel", "")
    assert not await live.append(node_id, 3, "ld", "")  # delta 2 never arrived
    assert (await live.read(node_id)).text == "Hel"

    await live.replace(node_id, LiveState("Hello, wor", "", 2))
    assert await live.append(node_id, 3, "ld", "think")
    assert live.read_sync(node_id) == LiveState("Hello, world", "think", 3)

    redis.Redis.from_url(private_redis.url).flushall()  # Redis restarted empty
    assert not await live.append(node_id, 4, "!", "")
    assert await live.read(node_id) is None


# --- the production shape as processes --------------------------------------------------------------

SLOW = "Tell me slowly about surviving failures."


@pytest.fixture(scope="module")
def stack(private_redis, tmp_path_factory) -> Iterator[LiveStack]:
    with live_stack("services", tmp_path_factory.mktemp("services"), redis_url=private_redis.url) as stack:
        yield stack


@pytest.fixture
def workers(stack, tmp_path) -> Iterator[Workers]:
    pool = Workers(stack, tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()


class Workers:
    """The stack's Celery worker, and any the test starts in its place after killing it."""

    def __init__(self, stack: LiveStack, tmp_path: Path) -> None:
        self.stack = stack
        self.tmp_path = tmp_path
        self.started: list[subprocess.Popen] = []

    def pid(self) -> int:
        return self.started[-1].pid if self.started else self.stack.pids["worker"]

    def alive(self) -> bool:
        try:
            os.kill(self.pid(), 0)
        except ProcessLookupError:
            return False
        if self.started:
            return self.started[-1].poll() is None
        # The stack's own worker is a child of this process: a killed one is a zombie until reaped.
        return proc_stat(f"/proc/{self.pid()}/stat")[0] != "Z"

    def kill(self) -> None:
        os.kill(self.pid(), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.alive():
            assert time.monotonic() < deadline, "the worker did not die"
            time.sleep(0.02)

    def ensure_one(self) -> None:
        if self.alive():
            return
        log = (self.tmp_path / f"worker-{len(self.started)}.log").open("wb")
        argv = WORKER_COMMAND + ["-n", f"prism-recovery-{uuid.uuid4().hex[:8]}@%h"]
        self.started.append(subprocess.Popen(argv, cwd=ROOT, env=self.stack.env, stdout=log, stderr=subprocess.STDOUT))

    def stop_all(self) -> None:
        for process in self.started:  # nothing they hold matters any more: no need to wait for a warm stop
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def set_model_params(stack: LiveStack, model: str, params: dict) -> None:
    with psycopg.connect(stack.env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(
            "UPDATE providers_model SET default_params = %s WHERE name = %s", (json.dumps({"simulator": params}), model)
        )


def sweep_in_the_stack(stack: LiveStack) -> int:
    """What Celery beat runs every 15 s, run once now, counting every streaming run as stale."""
    script = "from engine.sweeper import sweep_stale_runs\nemit(sweep_stale_runs(stale_after_s=0))"
    return django_shell(stack.env, script)


class Watcher:
    """A browser's view of a canvas: snapshots, then each node's deltas in seq order. A gap (deltas lost
    while Redis was away) makes it reconnect for fresh snapshots, as static/prism/stream.js does."""

    def __init__(self, stack: LiveStack, canvas_id: str) -> None:
        self.stack = stack
        self.canvas_id = canvas_id
        self.ws = None
        self.states: dict[str, dict] = {}
        self.finals: dict[str, dict] = {}
        self.reconnects = 0

    async def open(self) -> Watcher:
        self.ws = await connect(self.stack.canvas_ws_url(self.canvas_id), additional_headers=self.stack.headers)
        return self

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def state(self, node_id: str) -> dict:
        return self.states.setdefault(node_id, {"text": "", "seq": 0})

    async def reconnect(self) -> None:
        self.reconnects += 1
        await self.close()
        while True:  # as a browser does, with a short pause, until the server takes it again
            try:
                await self.open()
                return
            except (OSError, InvalidStatus):
                await asyncio.sleep(0.25)

    async def step(self) -> None:
        try:
            received = ws_events(await self.ws.recv())
        except ConnectionClosed:
            await asyncio.sleep(0.25)
            await self.reconnect()
            return
        for event in received:
            kind = event["type"]
            if kind == "node.snapshot":
                node, current = event["node"], self.state(event["node"]["id"])
                if node["seq"] >= current["seq"]:
                    current.update(text=node["text"], seq=node["seq"])
            elif kind == "node.delta":
                current = self.state(event["node"])
                if event["seq"] == current["seq"] + 1:
                    current.update(text=current["text"] + event["text"], seq=event["seq"])
                elif event["seq"] > current["seq"] + 1:
                    await self.reconnect()  # a fresh snapshot closes the gap, and covers the rest of this message
                    return
            elif kind in TERMINAL:
                self.finals[event["node"]["id"]] = event["node"]

    async def until(self, condition, timeout: float = EVENT_TIMEOUT_S) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not condition():
                    await self.step()
        except TimeoutError:
            pytest.fail(f"Waited {timeout:.0f} s in vain; saw {self.states}\n{self.stack.log_tails()}")


async def submit(stack: LiveStack, *models: str) -> tuple[str, list[str]]:
    """A new canvas and a prompt on it to `models`: (canvas id, response ids)."""
    async with httpx.AsyncClient(base_url=stack.base_url, headers=stack.headers, timeout=10) as client:
        canvas = (await client.post("/api/canvases", json={"title": "Recovery"})).json()
        ids = {m["model"]: m["id"] for m in (await client.get("/api/models")).json()}
        body = {"text": SLOW, "models": [ids[model] for model in models], "parents": []}
        response = await client.post(f"/api/canvases/{canvas['id']}/prompts", json=body)
    assert response.status_code == 202, response.text
    return canvas["id"], [r["id"] for r in response.json()["responses"]]


async def get_node(stack: LiveStack, node_id: str) -> dict:
    async with httpx.AsyncClient(base_url=stack.base_url, headers=stack.headers, timeout=10) as client:
        return (await client.get(f"/api/nodes/{node_id}")).json()


async def until_stored(stack: LiveStack, node_id: str, statuses: tuple[str, ...], timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        node = await get_node(stack, node_id)
        if node["status"] in statuses:
            return node
        assert time.monotonic() < deadline, f"{node_id} still {node['status']}\n{stack.log_tails()}"
        await asyncio.sleep(0.1)


@pytest.mark.services
@pytest.mark.asyncio
async def test_a_run_survives_redis_restarting_under_it(stack, private_redis, workers) -> None:
    workers.ensure_one()
    length = 120
    set_model_params(stack, "sim-steady", {"ttft_ms": 50, "tokens_per_s": 30, "length": length})
    canvas_id, [node_id] = await submit(stack, "sim-steady")
    watcher = await Watcher(stack, canvas_id).open()
    try:
        await watcher.until(lambda: watcher.state(node_id)["seq"] >= 5)
        await asyncio.to_thread(private_redis.restart, 1.0)
        await watcher.until(lambda: node_id in watcher.finals)
    finally:
        await watcher.close()

    stored = await get_node(stack, node_id)
    final, seen = watcher.finals[node_id], watcher.state(node_id)
    assert stored["status"] == "done", stored
    assert stored["text"] == final["text"] == full_answer("sim-steady", SLOW, length)
    # What the socket streamed (snapshots after the restart included) is the stored text, or the part
    # of it before a last gap that the final event then closes.
    assert seen["seq"] <= stored["seq"] and stored["text"].startswith(seen["text"])
    assert seen["seq"] < stored["seq"] or seen["text"] == stored["text"]


@pytest.mark.services
@pytest.mark.asyncio
async def test_when_a_worker_dies_its_streams_are_interrupted_and_its_silent_runs_run_again(stack, workers) -> None:
    workers.ensure_one()
    length = 200
    set_model_params(stack, "sim-steady", {"ttft_ms": 50, "tokens_per_s": 30, "length": length})
    set_model_params(stack, "sim-swift", {"ttft_ms": 60_000, "length": 20})  # no text before the kill
    canvas_id, (steady_id, swift_id) = await submit(stack, "sim-steady", "sim-swift")
    watcher = await Watcher(stack, canvas_id).open()
    try:
        await watcher.until(lambda: watcher.state(steady_id)["seq"] >= 5)
        await until_stored(stack, swift_id, ("streaming",))
        workers.kill()
        shown = dict(watcher.state(steady_id))
        assert (await get_node(stack, steady_id))["status"] == "streaming"  # nobody is left to end it

        set_model_params(stack, "sim-swift", {"ttft_ms": 10, "tokens_per_s": 200, "length": 20})
        assert await asyncio.to_thread(sweep_in_the_stack, stack) == 2
        await watcher.until(lambda: steady_id in watcher.finals)
        assert (await get_node(stack, swift_id))["status"] == "queued"
        workers.ensure_one()
        await watcher.until(lambda: swift_id in watcher.finals)
    finally:
        await watcher.close()

    stored = await get_node(stack, steady_id)
    assert (stored["status"], stored["error"]["code"]) == ("interrupted", "interrupted")
    assert full_answer("sim-steady", SLOW, length).startswith(stored["text"])
    assert stored["text"].startswith(shown["text"]) and stored["seq"] >= shown["seq"] >= 5
    assert watcher.finals[steady_id]["text"] == stored["text"]
    rerun = await get_node(stack, swift_id)
    assert rerun["status"] == "done" and rerun["text"] == full_answer("sim-swift", SLOW, 20)
    assert watcher.finals[swift_id]["text"] == rerun["text"]
