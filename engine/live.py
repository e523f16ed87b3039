"""The live state of each running response: its text, reasoning and last sequence number.

A delta is written here *before* it is sent to the canvas group, and a joining client subscribes
*before* it reads here, so snapshot + later deltas always cover the text with no gap. With Redis the
state is shared by every web and worker process; in the embedded mode it is a dict in the one process.

An append names the sequence number it follows. Redis may lose the state (a restart without
persistence) or miss an append (a write that failed); either way the next append finds the stored
sequence number is not the one before its own and is refused, and the writer replaces the whole
state instead. A joining client therefore never reads text with a hole in it.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from functools import lru_cache

import redis
import redis.asyncio as aioredis
import redis.asyncio.retry
import redis.retry
from django.conf import settings
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

TTL_S = 24 * 3600

# KEYS: text, reasoning, seq. ARGV: seq, text, reasoning, ttl. 1 when appended, 0 when out of step.
_APPEND = """
local stored = tonumber(redis.call('GET', KEYS[3]) or '0')
if stored ~= tonumber(ARGV[1]) - 1 then
  return 0
end
redis.call('APPEND', KEYS[1], ARGV[2])
redis.call('APPEND', KEYS[2], ARGV[3])
redis.call('SET', KEYS[3], ARGV[1])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[4]) end
return 1
"""


def redis_async(url: str) -> aioredis.Redis:
    """A client whose pooled connections survive Redis restarting: a connection Redis dropped is
    reconnected and the command tried again, a few times, briefly (every command we send may be)."""
    retry = redis.asyncio.retry.Retry(ExponentialBackoff(cap=0.5, base=0.05), 3)
    return aioredis.Redis.from_url(url, retry=retry, retry_on_error=[RedisConnectionError, RedisTimeoutError])


def redis_sync(url: str) -> redis.Redis:
    retry = redis.retry.Retry(ExponentialBackoff(cap=0.5, base=0.05), 3)
    return redis.Redis.from_url(url, retry=retry, retry_on_error=[RedisConnectionError, RedisTimeoutError])


@dataclass
class LiveState:
    text: str = ""
    reasoning: str = ""
    seq: int = 0


class MemoryLiveStore:
    def __init__(self) -> None:
        self._states: dict[str, LiveState] = {}
        self._lock = threading.Lock()

    async def append(self, node_id: str, seq: int, text: str, reasoning: str) -> bool:
        """Add delta `seq` to the state; False (and nothing changed) if the state is not at `seq - 1`."""
        with self._lock:
            state = self._states.setdefault(node_id, LiveState())
            if state.seq != seq - 1:
                return False
            state.text += text
            state.reasoning += reasoning
            state.seq = seq
            return True

    async def replace(self, node_id: str, state: LiveState) -> None:
        with self._lock:
            self._states[node_id] = LiveState(state.text, state.reasoning, state.seq)

    async def read(self, node_id: str) -> LiveState | None:
        return self.read_sync(node_id)

    def read_sync(self, node_id: str) -> LiveState | None:
        with self._lock:
            state = self._states.get(node_id)
            return None if state is None else LiveState(state.text, state.reasoning, state.seq)

    async def clear(self, node_id: str) -> None:
        with self._lock:
            self._states.pop(node_id, None)


class RedisLiveStore:
    def __init__(self, url: str) -> None:
        self._url = url
        self._sync = redis_sync(url)
        self._async: dict[asyncio.AbstractEventLoop, aioredis.Redis] = {}

    def _client(self) -> aioredis.Redis:
        # A redis.asyncio client belongs to the loop it was made on.
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            client = self._async[loop] = redis_async(self._url)
        return client

    @staticmethod
    def _keys(node_id: str) -> tuple[str, str, str]:
        base = f"prism:live:{node_id}"
        return f"{base}:text", f"{base}:reasoning", f"{base}:seq"

    async def append(self, node_id: str, seq: int, text: str, reasoning: str) -> bool:
        """Add delta `seq` to the state; False (and nothing changed) if the state is not at `seq - 1`."""
        return bool(await self._client().eval(_APPEND, 3, *self._keys(node_id), seq, text, reasoning, TTL_S))

    async def replace(self, node_id: str, state: LiveState) -> None:
        text_key, reasoning_key, seq_key = self._keys(node_id)
        async with self._client().pipeline(transaction=True) as pipe:
            pipe.set(text_key, state.text, ex=TTL_S).set(reasoning_key, state.reasoning, ex=TTL_S)
            pipe.set(seq_key, state.seq, ex=TTL_S)
            await pipe.execute()

    async def read(self, node_id: str) -> LiveState | None:
        return _state(await self._client().mget(self._keys(node_id)))

    def read_sync(self, node_id: str) -> LiveState | None:
        return _state(self._sync.mget(self._keys(node_id)))

    async def clear(self, node_id: str) -> None:
        await self._client().delete(*self._keys(node_id))


def _state(values: list) -> LiveState | None:
    text, reasoning, seq = values
    if seq is None:
        return None
    return LiveState((text or b"").decode(), (reasoning or b"").decode(), int(seq))


@lru_cache(maxsize=1)
def live_store() -> MemoryLiveStore | RedisLiveStore:
    return RedisLiveStore(settings.REDIS_URL) if settings.REDIS_URL else MemoryLiveStore()
