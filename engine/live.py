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
import hashlib
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
from redis.exceptions import NoScriptError
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


# Connections one client may open; past that a command waits for a free one instead of failing with
# "Too many connections" (hundreds of streams share one loop's client).
MAX_CONNECTIONS = 64


def redis_async(url: str) -> aioredis.Redis:
    """A client whose pooled connections survive Redis restarting: a connection Redis dropped is
    reconnected and the command tried again, a few times, briefly (every command we send may be)."""
    retry = redis.asyncio.retry.Retry(ExponentialBackoff(cap=0.5, base=0.05), 3)
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=30,
        retry=retry,
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    return aioredis.Redis(connection_pool=pool)


def redis_sync(url: str) -> redis.Redis:
    retry = redis.retry.Retry(ExponentialBackoff(cap=0.5, base=0.05), 3)
    return redis.Redis.from_url(url, retry=retry, retry_on_error=[RedisConnectionError, RedisTimeoutError])


_APPEND_SHA = hashlib.sha1(_APPEND.encode()).hexdigest()


@dataclass
class LiveState:
    text: str = ""
    reasoning: str = ""
    seq: int = 0


@dataclass(frozen=True)
class Append:
    """Delta `seq` of a node's live state."""

    node_id: str
    seq: int
    text: str
    reasoning: str


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

    async def append_many(self, appends: list[Append]) -> list[bool]:
        return [await self.append(a.node_id, a.seq, a.text, a.reasoning) for a in appends]

    async def replace(self, node_id: str, state: LiveState) -> None:
        with self._lock:
            self._states[node_id] = LiveState(state.text, state.reasoning, state.seq)

    async def replace_many(self, states: dict[str, LiveState]) -> None:
        for node_id, state in states.items():
            await self.replace(node_id, state)

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

    async def append_many(self, appends: list[Append]) -> list[bool]:
        """Every append in one round trip (EVALSHA in a pipeline); True for each one applied."""
        results = await self._evalsha_all(appends)
        if any(isinstance(result, NoScriptError) for result in results):
            # Redis restarted or flushed its scripts: load it once, then run the refused appends again
            # (an append refused with NOSCRIPT changed nothing).
            await self._client().script_load(_APPEND)
            again = [a for a, result in zip(appends, results, strict=True) if isinstance(result, NoScriptError)]
            retried = iter(await self._evalsha_all(again))
            results = [next(retried) if isinstance(result, NoScriptError) else result for result in results]
        for result in results:
            if isinstance(result, Exception):
                raise result
        return [bool(result) for result in results]

    async def _evalsha_all(self, appends: list[Append]) -> list:
        # Not pipe.scripts: the pipeline would then ask SCRIPT EXISTS first, one more round trip each time.
        async with self._client().pipeline(transaction=False) as pipe:
            for a in appends:
                pipe.evalsha(_APPEND_SHA, 3, *self._keys(a.node_id), a.seq, a.text, a.reasoning, TTL_S)
            return await pipe.execute(raise_on_error=False)

    async def replace(self, node_id: str, state: LiveState) -> None:
        await self.replace_many({node_id: state})

    async def replace_many(self, states: dict[str, LiveState]) -> None:
        async with self._client().pipeline(transaction=True) as pipe:
            for node_id, state in states.items():
                text_key, reasoning_key, seq_key = self._keys(node_id)
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
