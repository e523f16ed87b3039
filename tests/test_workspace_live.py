"""Deleting reaches everyone on the canvas at once: deleted nodes as node.deleted events, a deleted canvas
by closing its sockets (and refusing new ones). The consumer reads the database from worker threads, so
these tests commit (transaction=True)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import pytest_asyncio
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import connections
from django.test import Client
from django.utils import timezone

from canvas.models import Canvas, Edge, Node, NodeKind, NodeStatus
from tests.test_consumer import RECEIVE_S, bearer, refused, socket, until
from tests.usage_world import model_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def empty_channel_layer():
    yield
    async_to_sync(get_channel_layer().flush)()


@pytest_asyncio.fixture(autouse=True)
async def close_worker_connections():
    yield
    await sync_to_async(connections.close_all)()


def _prompt_with_answers(canvas) -> tuple[Node, list[Node]]:
    model = model_of("OpenAI", "gpt-mini")
    prompt = Node.objects.create(canvas=canvas, kind=NodeKind.PROMPT, text="Hello", created_by=canvas.created_by)
    answers = [
        Node.objects.create(
            canvas=canvas,
            kind=NodeKind.RESPONSE,
            model=model,
            status=NodeStatus.DONE,
            billed_team=canvas.team,
            created_by=canvas.created_by,
            text=text,
        )  # fmt: skip
        for text in ("One", "Two")
    ]
    Edge.objects.bulk_create([Edge(parent=prompt, child=answer) for answer in answers])
    return prompt, answers


async def test_a_deleted_prompt_and_its_answers_leave_every_open_canvas(alice_token, alice_canvas):
    prompt, answers = await sync_to_async(_prompt_with_answers)(alice_canvas)
    watcher = socket(alice_canvas.id, bearer(alice_token))
    assert (await watcher.connect(timeout=RECEIVE_S))[0]
    api = Client(headers={"authorization": f"Bearer {alice_token}"})

    response = await sync_to_async(api.delete)(f"/api/nodes/{prompt.id}")

    assert response.status_code == 204
    received = await until(watcher, "node.deleted")
    received += [await watcher.receive_json_from(timeout=RECEIVE_S) for _ in answers]
    deleted = [event for event in received if event["type"] == "node.deleted"]
    assert sorted(event["node"] for event in deleted) == sorted(str(n.id) for n in [prompt, *answers])
    assert all(set(event) == {"type", "node"} for event in deleted)
    await watcher.disconnect()


async def test_a_deleted_canvas_closes_its_sockets_and_opens_no_new_one(alice_token, alice_canvas):
    watcher = socket(alice_canvas.id, bearer(alice_token))
    assert (await watcher.connect(timeout=RECEIVE_S))[0]
    api = Client(headers={"authorization": f"Bearer {alice_token}"})

    assert (await sync_to_async(api.delete)(f"/api/canvases/{alice_canvas.id}")).status_code == 204

    closed = await watcher.receive_output(timeout=RECEIVE_S)
    while closed["type"] != "websocket.close":
        closed = await watcher.receive_output(timeout=RECEIVE_S)
    assert await refused(socket(alice_canvas.id, bearer(alice_token)))


async def test_the_embedded_mode_purges_old_deleted_canvases_while_serving(alice, alice_team, settings):
    from config.asgi import _start_periodic_jobs

    settings.PRISM_MODEL_SYNC_S = settings.PRISM_SERVER_SCRAPE_S = 0
    settings.PRISM_PURGE_INTERVAL_S = 0.05
    long_ago = timezone.now() - timedelta(days=31)
    old = await sync_to_async(Canvas.objects.create)(
        team=alice_team, title="Old", created_by=alice, deleted_at=long_ago
    )
    jobs = _start_periodic_jobs()
    try:
        for _ in range(200):  # each turn waits for one more run of the job
            if not await sync_to_async(Canvas.objects.filter(pk=old.pk).exists)():
                break
            await asyncio.sleep(0.05)
        assert not await sync_to_async(Canvas.objects.filter(pk=old.pk).exists)()
    finally:
        for job in jobs:
            job.cancel()
