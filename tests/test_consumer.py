"""The canvas WebSocket: who may connect, what a joining client is told, and what streams through it.

The consumer reads the database from worker threads, so these tests commit (transaction=True).
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
import pytest_asyncio
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.db import connections
from django.test import Client

from canvas import services
from canvas.models import Node, NodeKind, NodeStatus
from config.asgi import application
from engine import events, sender
from engine.live import live_store
from engine.runner import run_response
from providers.models import Model
from tests.listening import CanvasSocket, before_marker
from tests.stack import REDIS_BASE_URL, ws_events

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("close_runner_connections"),
]

RECEIVE_S = 5
LAYER_REDIS_URL = f"{REDIS_BASE_URL}/0"  # pub/sub channels are the server's, whatever the database


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """The personas' passwords need not resist brute force here; hashing them slowly costs seconds."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def empty_channel_layer():
    """The in-memory layer outlives each test's event loop; nothing may leak from one test to the next."""
    yield
    async_to_sync(get_channel_layer().flush)()


@pytest_asyncio.fixture(autouse=True)
async def close_worker_connections():
    """The consumer and the runner reach the database from asgiref's worker thread, whose connection
    would otherwise stay open and keep the test database from being dropped at the end of the session."""
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def session_cookie(alice) -> bytes:
    client = Client()
    client.force_login(alice)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


# Every new socket is also told who is present and the canvas's comments; these tests are about nodes.
GREETINGS = {"presence", "comment.snapshot"}


def _greeting(output: dict) -> bool:
    if output.get("type") != "websocket.send":
        return False
    return all(event.get("type") in GREETINGS for event in ws_events(output.get("text") or "{}"))


class NodeEvents(CanvasSocket):
    """A test socket that passes over the greetings."""

    async def receive_output(self, timeout=1):
        while True:
            output = await super().receive_output(timeout)
            if not _greeting(output):
                return output


def socket(canvas_id, headers: list[tuple[bytes, bytes]]) -> CanvasSocket:
    return NodeEvents(application, f"/ws/canvases/{canvas_id}/", headers=headers)


# Every browser sends the socket's own address as Host; the Origin check compares it with the page's.
HOST = (b"host", b"localhost")


def bearer(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode())]


async def refused(communicator: CanvasSocket) -> bool:
    connected, _ = await communicator.connect(timeout=RECEIVE_S)
    if connected:
        await communicator.disconnect()
    return not connected


async def until(communicator: CanvasSocket, *types: str) -> list[dict]:
    """Every event up to and including the first of one of `types`."""
    received = []
    while True:
        event = await communicator.receive_json_from(timeout=RECEIVE_S)
        received.append(event)
        if event["type"] in types:
            return received


def deltas(received: list[dict], node_id: str) -> list[dict]:
    return [e for e in received if e["type"] == "node.delta" and e["node"] == node_id]


# --- who may connect ----------------------------------------------------------------------------


async def test_a_bearer_client_receives_the_canvas_events(alice_token, alice_canvas):
    communicator = socket(alice_canvas.id, bearer(alice_token))
    connected, _ = await communicator.connect(timeout=RECEIVE_S)
    assert connected
    node = {"id": "n1", "kind": "response", "status": "queued", "text": ""}

    await sender.send(alice_canvas.id, events.NodeCreated(type="node.created", node=node))
    await sender.send(alice_canvas.id, events.NodeDelta(type="node.delta", node="n1", seq=1, text="Hel", reasoning=""))
    await sender.send(alice_canvas.id, events.NodeDelta(type="node.delta", node="n1", seq=2, text="lo", reasoning=""))
    await sender.send(alice_canvas.id, events.NodeDone(type="node.done", node={**node, "status": "done"}))

    assert await communicator.receive_json_from(timeout=RECEIVE_S) == {"type": "node.created", "node": node}
    assert await communicator.receive_json_from(timeout=RECEIVE_S) == {
        "type": "node.delta",
        "node": "n1",
        "seq": 1,
        "text": "Hel",
        "reasoning": "",
    }
    assert (await communicator.receive_json_from(timeout=RECEIVE_S))["seq"] == 2
    done = await communicator.receive_json_from(timeout=RECEIVE_S)
    assert done["type"] == "node.done" and done["node"]["status"] == "done"
    assert await before_marker(communicator, alice_canvas.id) == []
    await communicator.disconnect()


async def test_a_batch_reaches_the_socket_as_one_message_of_its_events_in_order(alice_token, alice_canvas):
    """For a socket that asked for batches (`?frames=batch`, the canvas page's)."""
    communicator = NodeEvents(application, f"/ws/canvases/{alice_canvas.id}/?frames=batch", headers=bearer(alice_token))
    assert (await communicator.connect(timeout=RECEIVE_S))[0]
    batch = _tick(last_node="n2", last_seq=4)

    await sync_to_async(sender.send_from_thread)(alice_canvas.id, batch)

    # One WebSocket message (a browser's one `message` event), the events in the order sent.
    assert json.loads(await communicator.receive_from(timeout=RECEIVE_S)) == batch
    await sender.send_batches({str(alice_canvas.id): [batch[1]]})
    assert json.loads(await communicator.receive_from(timeout=RECEIVE_S)) == batch[1]  # one event: no array
    await communicator.disconnect()


async def test_a_socket_that_did_not_ask_for_batches_gets_one_event_object_per_message(alice_token, alice_canvas):
    """The WebSocket contract's default: JSON, one object per message, whatever the relay batched."""
    communicator = socket(alice_canvas.id, bearer(alice_token))
    assert (await communicator.connect(timeout=RECEIVE_S))[0]
    batch = _tick(last_node="n1", last_seq=2)

    await sync_to_async(sender.send_from_thread)(alice_canvas.id, batch)
    await sender.send_batches({str(alice_canvas.id): batch[1:]})

    received = [json.loads(await communicator.receive_from(timeout=RECEIVE_S)) for _ in range(5)]
    assert received == [*batch, *batch[1:]]
    await communicator.disconnect()


async def test_events_sent_while_a_socket_connects_reach_it_after_its_accept_and_snapshot(alice_token, alice_canvas):
    """The consumer joins the canvas's group before it reads the snapshot (so nothing falls between the
    two); what the group hears meanwhile must wait until the snapshot and greetings have gone out."""
    communicator = CanvasSocket(application, f"/ws/canvases/{alice_canvas.id}/", headers=bearer(alice_token))
    await communicator.send_input({"type": "websocket.connect"})
    seq = 0  # the last delta sent
    # A delta on every turn of the loop while the consumer connects (a database read on a thread, the
    # group joined, the snapshot read): some land after the join, before the snapshot has gone.
    outputs = []
    while not outputs or outputs[-1]["type"] != "websocket.send" or "comment.snapshot" not in outputs[-1]["text"]:
        seq += 1
        delta = events.NodeDelta(type="node.delta", node="n1", seq=seq, text="x", reasoning="")
        await sender.send(alice_canvas.id, delta)
        with contextlib.suppress(asyncio.TimeoutError):
            outputs.append(await asyncio.wait_for(communicator.output_queue.get(), 0.001))
        assert seq < 50_000, "the socket never finished connecting"
    assert outputs[0]["type"] == "websocket.accept"
    assert not [o for o in outputs if "node.delta" in (o.get("text") or "")], "a delta went before the greeting"
    heard = []  # then every delta that reached the group after the join, in order, through the last one sent
    while not heard or heard[-1] != seq:
        event = await communicator.receive_json_from(timeout=RECEIVE_S)
        if event["type"] == "node.delta":
            heard.append(event["seq"])
    assert heard == list(range(heard[0], seq + 1))
    await communicator.disconnect()


async def test_a_failing_event_handler_closes_the_socket_with_1011(alice_token, alice_canvas):
    """A handler that raises ends its socket as under Channels' own loop, instead of leaving it open and deaf."""
    communicator = socket(alice_canvas.id, bearer(alice_token))
    assert (await communicator.connect(timeout=RECEIVE_S))[0]
    await get_channel_layer().group_send(sender.canvas_group(alice_canvas.id), {"type": "no.such.handler"})
    while (output := await communicator.receive_output(timeout=RECEIVE_S))["type"] != "websocket.close":
        pass
    assert output["code"] == 1011


async def test_a_socket_leaves_no_channel_subscribed_however_it_ends(settings, alice_token, alice_canvas):
    """The pub/sub layer subscribes a consumer's channel in Redis as the consumer starts, and forgets it
    only when a pending receive of it is cancelled: a socket refused at connect must not leave it behind."""
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [LAYER_REDIS_URL]}}
    }
    layer = get_channel_layer()
    assert isinstance(layer, RedisPubSubChannelLayer)  # the in-memory layer keeps no channel until a receive
    try:
        refused = socket(alice_canvas.id, bearer("no-such-token"))
        assert not (await refused.connect(timeout=RECEIVE_S))[0]
        await refused.send_input({"type": "websocket.disconnect", "code": 1006})
        await refused.wait(RECEIVE_S)
        accepted = socket(alice_canvas.id, bearer(alice_token))
        assert (await accepted.connect(timeout=RECEIVE_S))[0]
        assert len(layer.channels) == 1
        await accepted.disconnect()
        assert layer.channels == {}
    finally:
        await layer.flush()


async def test_a_client_hears_nothing_of_other_canvases(alice_token, alice_canvas, alice, alice_team):
    from canvas.models import Canvas

    other = await sync_to_async(Canvas.objects.create)(team=alice_team, title="Other", created_by=alice)
    communicator = socket(alice_canvas.id, bearer(alice_token))
    assert (await communicator.connect(timeout=RECEIVE_S))[0]

    await sender.send(other.id, events.NodeCreated(type="node.created", node={"id": "elsewhere"}))

    assert await before_marker(communicator, alice_canvas.id) == []
    await communicator.disconnect()


async def test_an_outsiders_token_is_refused(charlie, alice_canvas):
    from accounts.models import ApiToken

    _, charlie_token = await sync_to_async(ApiToken.issue)(charlie)
    communicator = socket(alice_canvas.id, bearer(charlie_token))

    connected, code = await communicator.connect(timeout=RECEIVE_S)

    assert not connected
    assert code == 4403


@pytest.mark.parametrize("canvas_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
async def test_a_canvas_that_does_not_exist_is_refused(alice_token, alice, canvas_id):
    assert await refused(socket(canvas_id, bearer(alice_token)))


async def test_an_unknown_token_is_refused(alice_canvas):
    assert await refused(socket(alice_canvas.id, bearer("prism_not-a-real-token")))


async def test_an_anonymous_browser_is_refused(alice_canvas):
    assert await refused(socket(alice_canvas.id, [HOST, (b"origin", b"http://localhost")]))


async def test_a_signed_in_browser_on_the_apps_origin_connects(alice_canvas, session_cookie):
    communicator = socket(alice_canvas.id, [HOST, (b"cookie", session_cookie), (b"origin", b"http://localhost")])

    connected, _ = await communicator.connect(timeout=RECEIVE_S)

    assert connected
    await sender.send(alice_canvas.id, events.NodeCreated(type="node.created", node={"id": "n1"}))
    assert (await communicator.receive_json_from(timeout=RECEIVE_S))["type"] == "node.created"
    await communicator.disconnect()


@pytest.mark.parametrize(
    "origin",
    [
        b"http://evil.example",
        b"null",
        None,
        b"http://localhost:8081",  # another port of the same host: another site, which shares its cookies
        b"https://localhost",  # another scheme
        b"http://localhost.evil.example",
    ],
)
async def test_a_signed_in_browser_from_another_origin_is_refused(alice_canvas, session_cookie, origin):
    headers = [HOST, (b"cookie", session_cookie)]
    if origin is not None:
        headers.append((b"origin", origin))

    assert await refused(socket(alice_canvas.id, headers))


@pytest.mark.parametrize(
    ("host", "scheme", "origin"),
    [
        (b"localhost:8000", "ws", b"http://localhost:8000"),
        (b"localhost", "wss", b"https://localhost"),
        (b"localhost:8443", "wss", b"https://localhost:8443"),
    ],
)
async def test_the_origin_must_match_the_sockets_own_scheme_host_and_port(
    alice_canvas, session_cookie, host, scheme, origin
):
    def opened(origin: bytes) -> NodeEvents:
        communicator = socket(alice_canvas.id, [(b"host", host), (b"cookie", session_cookie), (b"origin", origin)])
        communicator.scope["scheme"] = scheme
        return communicator

    assert not await refused(opened(origin))
    assert await refused(opened(origin.replace(b"localhost", b"127.0.0.1")))
    other_port = origin.rsplit(b":", 1)[0] + b":9999" if origin.count(b":") == 2 else origin + b":9999"
    assert await refused(opened(other_port))


async def test_an_origin_named_in_csrf_trusted_origins_is_accepted(alice_canvas, session_cookie, settings):
    """Behind a proxy that rewrites the address, the same origins that may post forms may open sockets."""
    settings.CSRF_TRUSTED_ORIGINS = ["https://prism.example.org", "https://*.example.net"]
    headers = [HOST, (b"cookie", session_cookie)]

    for origin, accepted in [
        (b"https://prism.example.org", True),
        (b"https://team.example.net", True),
        (b"http://team.example.net", False),
        (b"https://prism.example.org.evil", False),
    ]:
        assert await refused(socket(alice_canvas.id, [*headers, (b"origin", origin)])) is not accepted, origin


# --- what a joining client is told --------------------------------------------------------------


async def test_a_joining_client_gets_a_snapshot_of_each_running_response(alice_token, alice, alice_canvas, sim_models):
    def make_nodes():
        common = {"canvas": alice_canvas, "kind": NodeKind.RESPONSE, "model": sim_models["sim-swift"]}
        streaming = Node.objects.create(**common, status=NodeStatus.STREAMING, text="Hel", seq=1)
        queued = Node.objects.create(**common, status=NodeStatus.QUEUED)
        finished = Node.objects.create(**common, status=NodeStatus.DONE, text="Over", seq=4)
        Node.objects.create(canvas=alice_canvas, kind=NodeKind.NOTE, text="A note")
        return streaming, queued, finished

    streaming, queued, finished = await sync_to_async(make_nodes)()
    store = live_store()
    # The live state runs ahead of the saved text: the snapshot must carry the live one.
    await store.append(str(streaming.id), 1, "Hel", "")
    await store.append(str(streaming.id), 2, "lo, wor", "thinking")
    try:
        communicator = socket(alice_canvas.id, bearer(alice_token))
        assert (await communicator.connect(timeout=RECEIVE_S))[0]

        first = await communicator.receive_json_from(timeout=RECEIVE_S)
        second = await communicator.receive_json_from(timeout=RECEIVE_S)
        assert await before_marker(communicator, alice_canvas.id) == []
        await communicator.disconnect()
    finally:
        await store.clear(str(streaming.id))

    snapshots = {e["node"]["id"]: e for e in (first, second)}
    assert {e["type"] for e in snapshots.values()} == {"node.snapshot"}
    assert set(snapshots) == {str(streaming.id), str(queued.id)}
    live = snapshots[str(streaming.id)]["node"]
    assert (live["text"], live["reasoning"], live["seq"], live["status"]) == ("Hello, wor", "thinking", 2, "streaming")
    waiting = snapshots[str(queued.id)]["node"]
    assert (waiting["text"], waiting["seq"], waiting["status"]) == ("", 0, "queued")


# --- a whole run, end to end --------------------------------------------------------------------


async def submit(canvas, user, model: Model, text: str = "Tell me about streams") -> Node:
    _, responses, _ = await sync_to_async(services.create_prompt)(canvas, user, text, [model], [])
    return responses[0]


async def test_the_streamed_text_is_the_stored_text(alice_token, alice, alice_canvas, sim_models):
    communicator = socket(alice_canvas.id, bearer(alice_token))
    assert (await communicator.connect(timeout=RECEIVE_S))[0]
    answer = await submit(alice_canvas, alice, sim_models["sim-reasoner"])

    await run_response(str(answer.id))

    received = await until(communicator, "node.done", "node.error")
    await communicator.disconnect()
    await sync_to_async(answer.refresh_from_db)()
    assert answer.status == "done"
    assert answer.text and answer.reasoning
    streamed = deltas(received, str(answer.id))
    assert [d["seq"] for d in streamed] == list(range(1, len(streamed) + 1))
    assert "".join(d["text"] for d in streamed) == answer.text
    assert "".join(d["reasoning"] for d in streamed) == answer.reasoning
    done = received[-1]
    assert done["type"] == "node.done"
    assert done["node"]["id"] == str(answer.id)
    assert (done["node"]["text"], done["node"]["seq"]) == (answer.text, answer.seq)
    assert done["node"]["seq"] == len(streamed)
    assert await live_store().read(str(answer.id)) is None


async def test_a_client_joining_mid_stream_ends_with_the_stored_text(alice_token, alice, alice_canvas, sim_account):
    # The stream pauses after a few tokens, which gives the second client a moment to join mid-stream.
    stalling = {
        "simulator": {"ttft_ms": 0, "tokens_per_s": 2000, "length": 40, "fail": {"stall_after": 8, "stall_s": 1}}
    }
    model = await sync_to_async(Model.objects.create)(
        account=sim_account, name="sim-swift", display_name="Stalling", default_params=stalling
    )
    early = socket(alice_canvas.id, bearer(alice_token))
    assert (await early.connect(timeout=RECEIVE_S))[0]
    answer = await submit(alice_canvas, alice, model)
    run = asyncio.create_task(run_response(str(answer.id)))

    await until(early, "node.delta")
    late = socket(alice_canvas.id, bearer(alice_token))
    assert (await late.connect(timeout=RECEIVE_S))[0]
    await run
    received = await until(late, "node.done", "node.error")
    await early.disconnect()
    await late.disconnect()

    await sync_to_async(answer.refresh_from_db)()
    snapshot = received[0]
    assert snapshot["type"] == "node.snapshot"
    assert snapshot["node"]["seq"] >= 1
    later = [d for d in deltas(received, str(answer.id)) if d["seq"] > snapshot["node"]["seq"]]
    assert [d["seq"] for d in later] == list(range(snapshot["node"]["seq"] + 1, answer.seq + 1))
    assert snapshot["node"]["text"] + "".join(d["text"] for d in later) == answer.text
    assert received[-1]["type"] == "node.done"


def _tick(last_node: str, last_seq: int) -> list:
    """A relay tick's events: a node's update, then two deltas (the last one's node and seq given)."""
    node = {"id": "n1", "kind": "response", "status": "streaming", "text": ""}
    return [
        events.NodeUpdated(type="node.updated", node=node),
        events.NodeDelta(type="node.delta", node="n1", seq=1, text="Hé", reasoning="think"),
        events.NodeDelta(type="node.delta", node=last_node, seq=last_seq, text='llo "quoted"\n', reasoning=""),
    ]
