"""Provider slots: no more than `max_concurrency` streams to one provider account at once."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis
import redis.asyncio as aioredis

from engine.slots import POLL_S, MemorySlots, RedisSlots, SlotRequest

REDIS_URL = "redis://127.0.0.1:6379/0"


async def _peak_holders(slots, limit: int, holders: int) -> int:
    account = f"acct-{uuid.uuid4().hex}"
    inside = peak = 0

    async def hold(name: str) -> None:
        nonlocal inside, peak
        async with slots.hold(account, limit, name):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.02)
            inside -= 1

    await asyncio.gather(*(hold(f"node-{i}") for i in range(holders)))
    return peak


@pytest.mark.asyncio
async def test_memory_slots_never_exceed_the_limit():
    assert await _peak_holders(MemorySlots(), limit=2, holders=6) == 2


@pytest.mark.asyncio
async def test_redis_slots_never_exceed_the_limit_and_are_released():
    slots = RedisSlots(REDIS_URL)
    assert await _peak_holders(slots, limit=2, holders=6) == 2


@pytest.mark.asyncio
async def test_a_dead_holders_expired_lease_frees_its_slot():
    account = f"acct-{uuid.uuid4().hex}"
    client = aioredis.Redis.from_url(REDIS_URL)
    # A process that died while holding the only slot: its lease ran out a second ago.
    await client.zadd(f"prism:slots:{account}", {"dead-node": time.time() - 1})
    slots = RedisSlots(REDIS_URL)
    async with asyncio.timeout(5):
        async with slots.hold(account, 1, "live-node"):
            members = await client.zrange(f"prism:slots:{account}", 0, -1)
    assert members == [b"live-node"]
    assert await client.zcard(f"prism:slots:{account}") == 0
    await client.aclose()


# --- slots asked for up front, and a cancel that came before the run registered --------------------


def test_slots_granted_up_front_stop_at_the_limit_and_each_run_holds_and_frees_its_own():
    account = f"acct-{uuid.uuid4().hex}"
    slots = RedisSlots(REDIS_URL)

    granted = slots.grant_now([SlotRequest(account, 2, f"node-{i}") for i in range(3)])

    assert granted == [True, True, False]

    async def run_all() -> int:
        inside = peak = 0

        async def run(i: int) -> None:
            nonlocal inside, peak
            async with slots.hold(account, 2, f"node-{i}", granted=granted[i]):
                inside += 1
                peak = max(peak, inside)
                await asyncio.sleep(0.05)
                inside -= 1

        await asyncio.gather(*(run(i) for i in range(3)))
        return peak

    assert asyncio.run(run_all()) == 2  # the third waited for a granted one to finish
    assert redis.Redis.from_url(REDIS_URL).zcard(f"prism:slots:{account}") == 0


def test_without_redis_slots_are_not_granted_up_front_but_taken_on_the_loop():
    assert MemorySlots().grant_now([SlotRequest("acct", 1, "node")]) == [False]


async def _run_until_the_provider(node_id: str, account: str, slots: RedisSlots, granted: bool) -> None:
    """The runner's order: register for cancels, hold the slot, then stream from the provider (here,
    a long wait in its place)."""
    from engine import cancellation

    async with cancellation.registered(node_id):
        async with slots.hold(account, 1, node_id, granted=granted):
            await asyncio.sleep(30)


@pytest.mark.asyncio
@pytest.mark.parametrize("slot", ["granted", "taken by another"])
async def test_a_cancel_asked_before_the_run_registered_stops_it_wherever_it_is(settings, slot):
    """Granted its slot up front, the run is past it and streaming; or another stream holds the only
    slot for a minute. Either way the run is cancelled at once and leaves no slot of its own held."""
    from engine import cancellation

    settings.REDIS_URL = REDIS_URL
    account, node_id = f"acct-{uuid.uuid4().hex}", str(uuid.uuid4())
    client = aioredis.Redis.from_url(REDIS_URL)
    slots = RedisSlots(REDIS_URL)
    if slot == "granted":
        assert slots.grant_now([SlotRequest(account, 1, node_id)]) == [True]
    else:
        await client.zadd(f"prism:slots:{account}", {"other-node": time.time() + 60})
    await cancellation.request_cancel(node_id)

    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(3):
            await _run_until_the_provider(node_id, account, slots, granted=slot == "granted")

    holders = await client.zrange(f"prism:slots:{account}", 0, -1)
    assert holders == ([] if slot == "granted" else [b"other-node"])
    await client.delete(f"prism:slots:{account}", f"prism:cancelled:{node_id}")
    await client.aclose()


# --- a run that must wait for its slot is told so, once ---------------------------------------------


async def _waits_reported(slots, account: str, taken: bool) -> int:
    """How many times `hold` reported a wait, when the only slot is taken (for a moment) or free."""
    reports = []
    release, inside = asyncio.Event(), asyncio.Event()

    async def other() -> None:
        async with slots.hold(account, 1, "other-node"):
            inside.set()
            await release.wait()

    async with asyncio.timeout(5):
        holder = asyncio.ensure_future(other()) if taken else None
        if holder is not None:
            await inside.wait()
        waiting = asyncio.ensure_future(_enter(slots, account, lambda: reports.append(1)))
        if taken:
            while not reports:
                await asyncio.sleep(0.01)
            await asyncio.sleep(4 * POLL_S)  # long enough to try again a few times, were it to report each
            assert not waiting.done()
        release.set()
        await waiting
        if holder is not None:
            await holder
    return len(reports)


async def _enter(slots, account: str, on_wait) -> None:
    async with slots.hold(account, 1, "our-node", on_wait=on_wait):
        pass


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["memory", "redis"])
@pytest.mark.parametrize("taken", [True, False])
async def test_a_wait_for_a_slot_is_reported_once_and_only_when_there_is_one(kind, taken):
    slots = MemorySlots() if kind == "memory" else RedisSlots(REDIS_URL)

    assert await _waits_reported(slots, f"acct-{uuid.uuid4().hex}", taken) == (1 if taken else 0)
