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
