"""A test's seat in a canvas's channel-layer group: it hears what a browser's consumer would."""

from __future__ import annotations

import asyncio

from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from engine.sender import canvas_group, events_in
from tests.stack import ws_events

TERMINAL = ("node.done", "node.error")


class CanvasSocket(WebsocketCommunicator):
    """A canvas WebSocket read as a browser reads it: a message of several events (an array) is handed
    out one event at a time, in order."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._unread: list[dict] = []

    async def receive_json_from(self, timeout=1) -> dict:
        if not self._unread:
            self._unread = ws_events(await self.receive_from(timeout))
        return self._unread.pop(0)

    async def receive_nothing(self, timeout=0.1, interval=0.01) -> bool:
        return not self._unread and await super().receive_nothing(timeout, interval)


class Listener:
    def __init__(self, canvas_id) -> None:
        self.layer = get_channel_layer()
        self.group = canvas_group(canvas_id)
        self.channel = ""
        self.events: list[dict] = []

    async def open(self) -> Listener:
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self.channel)
        return self

    async def receive(self, timeout: float) -> dict | None:
        """The next message's last event, or None when nothing came in `timeout` seconds."""
        try:
            message = await asyncio.wait_for(self.layer.receive(self.channel), timeout)
        except TimeoutError:
            return None
        payloads = events_in(message)
        self.events.extend(payloads)  # a tick's deltas for the canvas come as one batch
        return payloads[-1]

    async def drain(self) -> list[dict]:
        """Everything sent so far: a run has sent all its events by the time it returns."""
        while await self.receive(0.05) is not None:
            pass
        return self.events

    async def wait_for_deltas(self, count: int, timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.deltas) < count:
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, f"only {len(self.deltas)} deltas arrived"
            await self.receive(left)

    async def until(self, kind: str, node_id, timeout: float = 5.0) -> dict:
        """The first event of `kind` about `node_id`, waiting for it if it has not come yet."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for event in self.events:
                node = event.get("node")
                if event["type"] == kind and (node == str(node_id) or (node or {}).get("id") == str(node_id)):
                    return event
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, f"no {kind} for {node_id}"
            await self.receive(left)

    @property
    def deltas(self) -> list[dict]:
        return [e for e in self.events if e["type"] == "node.delta"]

    @property
    def terminals(self) -> list[dict]:
        return [e for e in self.events if e["type"] in TERMINAL]


async def before_marker(communicator, canvas_id, timeout: float = 5.0) -> list[dict]:
    """Everything a socket receives before a marker event sent now to its canvas: the channel layer keeps
    one group's events in order, so whatever was sent earlier has arrived by then, and nothing is left
    to a guess of how long to wait."""
    from uuid import uuid4

    from engine import events, sender

    marker = f"marker-{uuid4().hex}"
    await sender.send(canvas_id, events.NodeUpdated(type="node.updated", node={"id": marker}))
    received = []
    while True:
        event = await communicator.receive_json_from(timeout=timeout)
        if event["type"] == "node.updated" and event["node"].get("id") == marker:
            return received
        received.append(event)
