"""Provider slots: no more than `max_concurrency` streams to one provider account at once."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis.asyncio as aioredis

from engine.slots import MemorySlots, RedisSlots

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


# --- a cancel that came before the run registered ----------------------------------------------------


async def _run_until_the_provider(node_id: str, account: str, slots: RedisSlots) -> bool:
    """The runner's order: register for cancels, wait for a slot, then pass the check before calling
    the provider. True when it got as far as calling it."""
    from engine import cancellation

    async with cancellation.registered(node_id) as no_earlier_cancel:
        async with slots.hold(account, 1, node_id):
            await no_earlier_cancel
            return True


@pytest.mark.asyncio
@pytest.mark.parametrize("slot", ["free", "taken"])
async def test_a_cancel_asked_before_the_run_registered_stops_it_before_the_provider(settings, slot):
    """Whether the slot is free or another stream holds it for a minute, the run is cancelled at once,
    never reaches the provider, and leaves no slot held."""
    from engine import cancellation

    settings.REDIS_URL = REDIS_URL
    account, node_id = f"acct-{uuid.uuid4().hex}", str(uuid.uuid4())
    client = aioredis.Redis.from_url(REDIS_URL)
    if slot == "taken":
        await client.zadd(f"prism:slots:{account}", {"other-node": time.time() + 60})
    await cancellation.request_cancel(node_id)
    slots = RedisSlots(REDIS_URL)

    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(3):
            await _run_until_the_provider(node_id, account, slots)

    holders = await client.zrange(f"prism:slots:{account}", 0, -1)
    assert holders == ([b"other-node"] if slot == "taken" else [])
    await client.delete(f"prism:slots:{account}", f"prism:cancelled:{node_id}")
    await client.aclose()


@pytest.mark.asyncio
async def test_without_an_earlier_cancel_the_run_reaches_the_provider_and_frees_its_slot(settings):
    settings.REDIS_URL = REDIS_URL
    account, node_id = f"acct-{uuid.uuid4().hex}", str(uuid.uuid4())
    slots = RedisSlots(REDIS_URL)

    assert await _run_until_the_provider(node_id, account, slots) is True

    client = aioredis.Redis.from_url(REDIS_URL)
    assert await client.zcard(f"prism:slots:{account}") == 0
    await client.aclose()
