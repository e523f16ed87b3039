"""Cancelling through Redis (the services mode): a cancel published by any process reaches the run that
holds the stream, through that process's listener, and no other run."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from engine import cancellation
from engine.redis_clients import loop_client
from tests.stack import _redis_database

pytestmark = pytest.mark.asyncio


async def _hold(node_id: str, registered: asyncio.Event) -> None:
    async with cancellation.registered(node_id):
        registered.set()
        await asyncio.sleep(60)


async def _listener_subscribed(url: str) -> None:
    client = loop_client(url)
    for _ in range(500):
        [(_, subscribers)] = await client.pubsub_numsub(cancellation.CHANNEL)
        if subscribers:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the cancel listener never subscribed")


async def test_a_cancel_published_on_redis_stops_the_run_that_holds_it_and_no_other(settings):
    with _redis_database() as url:
        settings.REDIS_URL = url
        registered = {name: asyncio.Event() for name in ("target", "bystander")}
        runs = {name: asyncio.create_task(_hold(f"node-{name}", registered[name])) for name in registered}
        try:
            for event in registered.values():
                await event.wait()
            await _listener_subscribed(url)

            # Published straight on the channel, with nothing remembered: only the listener can deliver it.
            await loop_client(url).publish(cancellation.CHANNEL, "node-target")

            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(runs["target"], 5)
            assert not runs["bystander"].done()
        finally:
            for task in [*runs.values(), cancellation._listeners.find()]:
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await loop_client(url).aclose()
