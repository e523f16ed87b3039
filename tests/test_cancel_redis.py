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


async def _stop_all(runs, url: str) -> None:
    """End the runs still held and this loop's cancel listener, and close the loop's client."""
    for task in [*runs, cancellation._listeners.find()]:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    await loop_client(url).aclose()


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
            await _stop_all(runs.values(), url)


async def test_cancels_remembered_before_a_burst_registers_stop_those_runs_and_no_other(settings):
    """A burst's runs register in one turn of the loop and are looked up together; each remembered
    cancel (set before its run registered, never published) stops its own run, and only that one."""
    with _redis_database() as url:
        settings.REDIS_URL = url
        client = loop_client(url)
        names = [f"node-burst-{index}" for index in range(30)]
        remembered = {names[3], names[17], names[29]}
        for name in remembered:
            await client.set(cancellation._remembered_key(name), 1, ex=cancellation.REMEMBER_S)
        registered = {name: asyncio.Event() for name in names}
        runs = {name: asyncio.create_task(_hold(name, registered[name])) for name in names}
        try:
            for event in registered.values():
                await event.wait()
            done, _ = await asyncio.wait([runs[name] for name in remembered], timeout=5)
            assert len(done) == len(remembered)
            assert all(runs[name].cancelled() for name in remembered)
            await asyncio.sleep(0.2)  # a wrong cancel would have landed by now
            assert not any(runs[name].done() for name in names if name not in remembered)
        finally:
            await _stop_all(runs.values(), url)
