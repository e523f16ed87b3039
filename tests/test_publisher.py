"""engine.relay's publisher: the streams of one loop published in batches, their live state written first,
their partial text saved together. In process: in-memory channel layer and live store, real database,
and a redis-server of the tests' own for the Redis live store's batched appends."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from canvas.models import Node
from canvas.services import create_prompt
from engine.live import TTL_S, Append, LiveState, RedisLiveStore, live_store
from engine.relay import PERSIST_TURNS, Relay, publisher
from engine.runner import run_response
from engine.sender import BATCH_HANDLER, canvas_group, events_in

pytestmark = [pytest.mark.asyncio, pytest.mark.usefixtures("close_runner_connections")]

CANVASES = 3
STREAMS_PER_CANVAS = 4
TICKS = 5


class Listener:
    """A channel in a canvas's group, as a browser's consumer would have; keeps each group message."""

    def __init__(self, canvas_id: str) -> None:
        self.layer = get_channel_layer()
        self.group = canvas_group(canvas_id)
        self.channel = ""

    async def open(self) -> Listener:
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self.channel)
        return self

    async def messages(self) -> list[dict]:
        """Every message sent so far (a drained tick has sent its messages already)."""
        found = []
        while True:
            try:
                found.append(await asyncio.wait_for(self.layer.receive(self.channel), 0.05))
            except TimeoutError:
                return found


def a_stream(canvas_id: str) -> Relay:
    return Relay(str(uuid.uuid4()), canvas_id)


async def test_many_streams_on_several_canvases_make_one_message_per_canvas_per_tick() -> None:
    canvases = [str(uuid.uuid4()) for _ in range(CANVASES)]
    listeners = {c: await Listener(c).open() for c in canvases}
    streams = {c: [a_stream(c) for _ in range(STREAMS_PER_CANVAS)] for c in canvases}
    every_stream = [s for c in canvases for s in streams[c]]
    words: dict[str, list[str]] = {s.node_id: [] for s in every_stream}

    for tick in range(1, TICKS + 1):
        for stream in every_stream:
            word = f"w{tick}-{stream.node_id[:4]} "
            words[stream.node_id].append(word)
            stream.add("text", word)
        await every_stream[-1].drain()  # one tick takes every stream that is dirty

        for canvas in canvases:
            [message] = await listeners[canvas].messages()
            assert message["type"] == BATCH_HANDLER
            deltas = events_in(message)
            assert [p["node"] for p in deltas] == [s.node_id for s in streams[canvas]]
            assert {(p["type"], p["seq"]) for p in deltas} == {("node.delta", tick)}
            assert [p["text"] for p in deltas] == [words[s.node_id][-1] for s in streams[canvas]]
        for stream in every_stream:
            live = await live_store().read(stream.node_id)
            assert live == LiveState("".join(words[stream.node_id]), "", tick)


async def test_fragments_added_between_ticks_make_one_delta() -> None:
    canvas = str(uuid.uuid4())
    listener = await Listener(canvas).open()
    stream = a_stream(canvas)

    stream.add("reasoning", "Think")
    stream.add("text", "Hel")
    stream.add("reasoning", "ing.")
    stream.add("text", "lo")
    await stream.drain()

    [message] = await listener.messages()
    assert events_in(message) == [
        {"type": "node.delta", "node": stream.node_id, "seq": 1, "text": "Hello", "reasoning": "Thinking."}
    ]
    assert not stream.has_pending


async def test_a_streams_first_text_does_not_wait_for_the_flush_window(settings) -> None:
    settings.PRISM_FLUSH_MS = 600_000  # a window no test would wait out
    canvas = str(uuid.uuid4())
    listener = await Listener(canvas).open()
    running, starting = a_stream(canvas), a_stream(canvas)
    running.add("text", "One.")
    await running.drain()  # a tick: the next window starts now
    assert len(await listener.messages()) == 1

    running.add("text", " Two.")  # waits for the window to close
    starting.add("text", "Hello")  # its first text: a tick now, which takes the other's text along
    found: list[dict] = []
    for _ in range(100):
        found += await listener.messages()
        if found:
            break
    [message] = found
    assert [(p["node"], p["seq"], p["text"]) for p in events_in(message)] == [
        (running.node_id, 2, " Two."),
        (starting.node_id, 1, "Hello"),
    ]


async def test_a_stream_keeps_its_own_order_across_ticks_that_pass_by_themselves() -> None:
    canvas = str(uuid.uuid4())
    listener = await Listener(canvas).open()
    stream = a_stream(canvas)

    for n in range(12):
        stream.add("text", f"{n} ")
        await asyncio.sleep(0.01)  # some fragments share a tick, some do not
    await stream.drain()

    deltas = [p for m in await listener.messages() for p in events_in(m)]
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    assert "".join(d["text"] for d in deltas) == "".join(f"{n} " for n in range(12))
    assert (await live_store().read(stream.node_id)).text == stream.text


async def test_lost_live_state_is_written_whole_again_at_the_next_tick() -> None:
    canvas = str(uuid.uuid4())
    stream = a_stream(canvas)
    stream.add("text", "Once ")
    await stream.drain()
    stream.add("text", "upon ")
    await stream.drain()

    await live_store().clear(stream.node_id)  # what a Redis restart without persistence does
    stream.add("text", "a time")
    await stream.drain()

    assert await live_store().read(stream.node_id) == LiveState("Once upon a time", "", 3)


async def test_draining_a_stream_with_nothing_pending_returns_at_once() -> None:
    stream = a_stream(str(uuid.uuid4()))
    await asyncio.wait_for(stream.drain(), 1)
    assert stream.seq == 0


# --- a whole run --------------------------------------------------------------------------------------


@sync_to_async
def ask(user, canvas, model, **simulator) -> Node:
    model.default_params = {"simulator": {"ttft_ms": 5, **simulator}}
    model.save(update_fields=["default_params"])
    _, responses, _ = create_prompt(canvas, user, "Tell me about batching please", [model], [])
    return responses[0]


@pytest.mark.django_db(transaction=True)
async def test_every_delta_of_a_run_is_published_before_its_end(alice, alice_canvas, sim_models) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], tokens_per_s=2000, length=80)
    listener = await Listener(str(alice_canvas.id)).open()

    await run_response(str(node.id))

    events = []
    for message in await listener.messages():
        events.extend(events_in(message))
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "node.done" and "node.delta" not in kinds[kinds.index("node.done") :]
    deltas = [e for e in events if e["type"] == "node.delta"]
    done = events[-1]["node"]
    assert [d["seq"] for d in deltas] == list(range(1, done["seq"] + 1))
    assert "".join(d["text"] for d in deltas) == done["text"] and done["text"]


# --- partial text and heartbeats ------------------------------------------------------------------------


@sync_to_async
def responses(user, canvas, models, status: str) -> list[Node]:
    _, nodes, _ = create_prompt(canvas, user, "Save me as I go", models, [])
    long_ago = timezone.now() - timedelta(minutes=5)
    Node.objects.filter(id__in=[n.id for n in nodes]).update(status=status, started_at=long_ago, heartbeat_at=long_ago)
    return [Node.objects.get(id=n.id) for n in nodes]


@sync_to_async
def reload(node: Node) -> Node:
    return Node.objects.get(id=node.id)


@pytest.mark.django_db(transaction=True)
async def test_one_persist_saves_every_stream_that_advanced_and_skips_ended_ones(
    alice, alice_canvas, sim_models
) -> None:
    models = list(sim_models.values())
    advancing, idle, beating = await responses(alice, alice_canvas, models, "streaming")
    [ended] = await responses(alice, alice_canvas, models[:1], "done")
    relays = {n.id: Relay(str(n.id), str(alice_canvas.id)) for n in (advancing, idle, beating, ended)}
    relays[beating.id].saved_at -= 3600  # its heartbeat is due although it has streamed nothing new

    async with (
        relays[advancing.id].running(),
        relays[idle.id].running(),
        relays[beating.id].running(),
        relays[ended.id].running(),
    ):
        for node_id in (advancing.id, ended.id):
            relays[node_id].add("text", "So far")
            relays[node_id].add("reasoning", "hmm")
            await relays[node_id].drain()
        before = timezone.now()
        for turn in range(PERSIST_TURNS):  # a whole period
            await publisher().persist(turn)

    saved, untouched, beaten, kept = [await reload(n) for n in (advancing, idle, beating, ended)]
    assert (saved.text, saved.reasoning, saved.seq) == ("So far", "hmm", 1)
    assert saved.heartbeat_at >= before
    assert untouched.heartbeat_at == idle.heartbeat_at  # nothing new, and its heartbeat not yet due
    assert beaten.heartbeat_at >= before and beaten.seq == 0
    assert (kept.status, kept.text, kept.seq, kept.heartbeat_at) == ("done", "", 0, ended.heartbeat_at)
    assert relays[advancing.id].persisted_seq == 1


@pytest.mark.django_db(transaction=True)
async def test_the_streams_are_saved_a_tenth_at_a_time_each_once_a_period(alice, alice_canvas, sim_models) -> None:
    """Saved all at once, a hundred long answers stalled the relay once a second (bench/README)."""
    first, second, third = await responses(alice, alice_canvas, list(sim_models.values()), "streaming")
    relays = [Relay(str(n.id), str(alice_canvas.id)) for n in (first, second, third)]

    async with relays[0].running(), relays[1].running(), relays[2].running():
        turns = [relay.persist_turn for relay in relays]
        for relay in relays:
            relay.add("text", "So far")
            await relay.drain()
        await publisher().persist(turns[1])
        after_one_turn = [(await reload(n)).seq for n in (first, second, third)]
        for turn in range(PERSIST_TURNS):
            await publisher().persist(turn)
        after_a_period = [(await reload(n)).seq for n in (first, second, third)]

    assert turns == [(turns[0] + i) % PERSIST_TURNS for i in range(3)]  # one after another, round the turns
    assert after_one_turn == [0, 1, 0]
    assert after_a_period == [1, 1, 1]


# --- the Redis live store, batched ---------------------------------------------------------------------


async def test_the_redis_live_store_appends_a_batch_in_step_and_refuses_what_is_not(private_redis) -> None:
    live = RedisLiveStore(private_redis.url)
    first, second = uuid.uuid4().hex, uuid.uuid4().hex

    assert await live.append_many([Append(first, 1, "Hel", ""), Append(second, 1, "", "Hm")]) == [True, True]
    redis.Redis.from_url(private_redis.url).script_flush()  # Redis restarted: it forgot the script
    assert await live.append_many([Append(first, 2, "lo", ""), Append(second, 3, "x", "")]) == [True, False]
    await live.replace_many({second: LiveState("Hi", "Hmm", 2)})
    assert await live.append_many([Append(second, 3, "!", "")]) == [True]

    assert await live.read(first) == LiveState("Hello", "", 2)
    assert await live.read(second) == LiveState("Hi!", "Hmm", 3)
    # What a crashed run leaves expires: every key the appends made has a TTL.
    client = redis.Redis.from_url(private_redis.url)
    keys = client.keys(f"prism:live:{first}:*") + client.keys(f"prism:live:{second}:*")
    assert len(keys) == 5 and all(0 < client.ttl(key) <= TTL_S for key in keys)


async def test_the_redis_live_store_publishes_a_ticks_messages_after_its_appends_only_if_all_applied(
    private_redis,
) -> None:
    live = RedisLiveStore(private_redis.url)
    client = redis.Redis.from_url(private_redis.url)
    subscriber = client.pubsub()
    subscriber.subscribe("deltas")
    assert subscriber.get_message(timeout=1)["type"] == "subscribe"
    node = uuid.uuid4().hex

    def received() -> list[bytes]:
        found = []
        while (message := subscriber.get_message(timeout=0.2)) is not None:
            found.append(message["data"])
        return found

    # The message is published after the append, in the same call: a client that reads the live state on
    # receiving it finds the delta there.
    assert await live.append_many([Append(node, 1, "Hel", "")], [("deltas", b"1")]) == [True]
    assert received() == [b"1"]
    assert await live.append_many([Append(node, 2, "lo", "")], [("deltas", b"2"), ("deltas", b"2b")]) == [True]
    assert received() == [b"2", b"2b"]
    # One append out of step: nothing is published (the publisher repairs the state, then sends).
    other = uuid.uuid4().hex
    refused = [Append(node, 3, "!", ""), Append(other, 5, "x", "")]
    assert await live.append_many(refused, [("deltas", b"3")]) == [True, False]
    assert received() == []
    assert await live.read(node) == LiveState("Hello!", "", 3)
    subscriber.close()
