"""Who is on a canvas right now, across every web process.

Each open socket is one entry (a tab); entries expire unless their socket refreshes them, so a web
process that dies without saying goodbye leaves no ghosts for long. With Redis the entries live in one
hash per canvas; in the embedded mode, in a dict of the one process.
"""

from __future__ import annotations

import json
import time
from functools import lru_cache

import redis.asyncio as aioredis
from django.conf import settings

from engine.redis_clients import loop_client

TTL_S = 60.0


def people(entries: list[dict]) -> list[dict]:
    """What everyone is shown: each member once by display name, each guest as "guest". No ids, no emails."""
    members: dict = {}
    guests = 0
    for entry in entries:
        if entry.get("user") is None:
            guests += 1
        else:
            members.setdefault(entry["user"], entry["name"])
    listed = [{"name": name, "guest": False} for name in sorted(members.values(), key=str.lower)]
    return listed + [{"name": "guest", "guest": True}] * guests


class MemoryPresence:
    def __init__(self) -> None:
        self._canvases: dict[str, dict[str, tuple[dict, float]]] = {}

    async def join(self, canvas_id: str, channel: str, entry: dict, ttl: float = TTL_S) -> None:
        self._canvases.setdefault(canvas_id, {})[channel] = (entry, time.monotonic() + ttl)

    async def leave(self, canvas_id: str, channel: str) -> None:
        entries = self._canvases.get(canvas_id, {})
        entries.pop(channel, None)
        if not entries:
            self._canvases.pop(canvas_id, None)

    async def entries(self, canvas_id: str) -> list[dict]:
        now = time.monotonic()
        entries = self._canvases.get(canvas_id, {})
        for channel in [c for c, (_, expires) in entries.items() if expires < now]:
            entries.pop(channel)
        return [entry for entry, _ in entries.values()]


class RedisPresence:
    def __init__(self, url: str) -> None:
        self._url = url

    def _client(self) -> aioredis.Redis:
        return loop_client(self._url)

    @staticmethod
    def _key(canvas_id: str) -> str:
        return f"prism:presence:{canvas_id}"

    async def join(self, canvas_id: str, channel: str, entry: dict, ttl: float = TTL_S) -> None:
        """Add or refresh this socket's entry; the whole canvas's hash goes once no socket refreshes it."""
        value = json.dumps({**entry, "expires": time.time() + ttl})
        async with self._client().pipeline(transaction=True) as pipe:
            pipe.hset(self._key(canvas_id), channel, value).expire(self._key(canvas_id), max(int(ttl * 2), 1))
            await pipe.execute()

    async def leave(self, canvas_id: str, channel: str) -> None:
        await self._client().hdel(self._key(canvas_id), channel)

    async def entries(self, canvas_id: str) -> list[dict]:
        now = time.time()
        live, stale = [], []
        for channel, value in (await self._client().hgetall(self._key(canvas_id))).items():
            entry = json.loads(value)
            if entry.pop("expires", 0) >= now:
                live.append(entry)
            else:
                stale.append(channel)
        if stale:
            await self._client().hdel(self._key(canvas_id), *stale)
        return live


@lru_cache(maxsize=1)
def presence_store() -> MemoryPresence | RedisPresence:
    return RedisPresence(settings.REDIS_URL) if settings.REDIS_URL else MemoryPresence()
