"""The live state of each running response: its text, reasoning and last sequence number.

A delta is written here *before* it is sent to the canvas group, and a joining client subscribes
*before* it reads here, so snapshot + later deltas always cover the text with no gap. With Redis the
state is shared by every web and worker process; in the embedded mode it is a dict in the one process.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from functools import lru_cache

import redis
import redis.asyncio as aioredis
from django.conf import settings

TTL_S = 24 * 3600


@dataclass
class LiveState:
    text: str = ""
    reasoning: str = ""
    seq: int = 0


class MemoryLiveStore:
    def __init__(self) -> None:
        self._states: dict[str, LiveState] = {}
        self._lock = threading.Lock()

    async def append(self, node_id: str, seq: int, text: str, reasoning: str) -> None:
        with self._lock:
            state = self._states.setdefault(node_id, LiveState())
            state.text += text
            state.reasoning += reasoning
            state.seq = seq

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
        self._sync = redis.Redis.from_url(url)
        self._async: dict[asyncio.AbstractEventLoop, aioredis.Redis] = {}

    def _client(self) -> aioredis.Redis:
        # A redis.asyncio client belongs to the loop it was made on.
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            client = self._async[loop] = aioredis.Redis.from_url(self._url)
        return client

    @staticmethod
    def _keys(node_id: str) -> tuple[str, str, str]:
        base = f"prism:live:{node_id}"
        return f"{base}:text", f"{base}:reasoning", f"{base}:seq"

    async def append(self, node_id: str, seq: int, text: str, reasoning: str) -> None:
        text_key, reasoning_key, seq_key = self._keys(node_id)
        async with self._client().pipeline(transaction=True) as pipe:
            pipe.append(text_key, text).append(reasoning_key, reasoning).set(seq_key, seq)
            pipe.expire(text_key, TTL_S).expire(reasoning_key, TTL_S).expire(seq_key, TTL_S)
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
