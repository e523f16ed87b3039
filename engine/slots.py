"""Per-provider concurrency: at most `max_concurrency` streams to one provider account at a time,
across every worker process (a self-hosted server has a fixed number of slots; an API has limits).

With Redis, a slot is a lease in a sorted set scored by its expiry; a holder renews it while it
streams, so the slots of a process that died come back by themselves. In the embedded mode there is
one process, and a semaphore per account is enough.

A run usually asks for its slot from the thread that claims it (`grant_now`, one round trip for a
prompt's responses), where the answer does not wait behind the relays on the event loop; `hold` then
only renews and releases it. A run not granted a slot that way waits for one in `hold`, which calls
its `on_wait` once if the slot is not free at once (the run says so on its node).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache

import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import RedisError

from engine.loops import PerLoop
from engine.redis_clients import loop_client, thread_client

log = logging.getLogger(__name__)

LEASE_S = 60.0
RENEW_EVERY_S = 20.0
POLL_S = 0.05

_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
  return 1
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
  redis.call('EXPIRE', KEYS[1], 3600)
  return 1
end
return 0
"""


@dataclass(frozen=True)
class SlotRequest:
    account_id: str
    limit: int
    holder: str


class MemorySlots:
    def __init__(self) -> None:
        self._semaphores: PerLoop[dict[str, asyncio.Semaphore]] = PerLoop(lambda loop: {})

    def grant_now(self, requests: list[SlotRequest]) -> list[bool]:
        return [False] * len(requests)  # the semaphores live on the loop: `hold` takes them there

    @asynccontextmanager
    async def hold(
        self, account_id: str, limit: int, holder: str, granted: bool = False, on_wait: Callable[[], None] | None = None
    ):
        semaphore = self._semaphores.get().setdefault(account_id, asyncio.Semaphore(limit))
        if semaphore.locked() and on_wait is not None:
            on_wait()
        async with semaphore:
            yield


class RedisSlots:
    def __init__(self, url: str) -> None:
        self._url = url

    def _client(self) -> aioredis.Redis:
        return loop_client(self._url)

    @staticmethod
    def _key(account_id: str) -> str:
        return f"prism:slots:{account_id}"

    async def _try(self, key: str, limit: int, holder: str) -> bool:
        now = time.time()
        return bool(await self._client().eval(_ACQUIRE, 1, key, now, now + LEASE_S, limit, holder))

    def grant_now(self, requests: list[SlotRequest]) -> list[bool]:
        """Ask for these slots at once, from a thread; each holder granted one must then `hold` it
        with granted=True (which releases it). A holder refused one, or all of them if Redis is
        away, asks again in `hold`."""
        if not requests:
            return []
        now = time.time()
        try:
            pipe = thread_client(self._url).pipeline(transaction=False)
            for r in requests:
                pipe.eval(_ACQUIRE, 1, self._key(r.account_id), now, now + LEASE_S, r.limit, r.holder)
            return [bool(granted) for granted in pipe.execute()]
        except RedisError as exc:
            log.warning("Provider slots not asked for up front (%s)", exc)
            return [False] * len(requests)

    async def _renew(self, key: str, limit: int, holder: str) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY_S)
            try:
                await self._try(key, limit, holder)
            except RedisError as exc:  # Redis restarting: renew at the next turn
                log.warning("Slot lease of %s not renewed (%s)", holder, exc)

    @asynccontextmanager
    async def hold(
        self, account_id: str, limit: int, holder: str, granted: bool = False, on_wait: Callable[[], None] | None = None
    ):
        key = self._key(account_id)
        renewer = None
        try:
            # Released even when cancelled while asking: Redis may have granted the slot already.
            while not granted and not await self._try(key, limit, holder):
                if on_wait is not None:
                    on_wait()
                    on_wait = None
                await asyncio.sleep(POLL_S)
            renewer = asyncio.ensure_future(self._renew(key, limit, holder))
            yield
        finally:
            if renewer is not None:
                renewer.cancel()
            try:
                await asyncio.shield(self._client().zrem(key, holder))
            except RedisError as exc:  # the lease expires by itself; the run must still end well
                log.warning("Slot of %s not released (%s)", holder, exc)


@lru_cache(maxsize=1)
def provider_slots() -> MemorySlots | RedisSlots:
    return RedisSlots(settings.REDIS_URL) if settings.REDIS_URL else MemorySlots()
