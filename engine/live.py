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

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import NoScriptError

from engine.redis_clients import loop_client, thread_client

TTL_S = 24 * 3600

# Pub/sub messages to send with a tick's appends: (channel, message).
Publishes = Sequence[tuple[str, bytes]]

# A tick's appends in one script call. KEYS: text, reasoning, seq of each append, in order. ARGV: the
# TTL, then seq, text, reasoning of each append, then channel and message of each publish. Returns 1 for
# each append applied, 0 for each refused because the stored seq is not the one before its own. The
# publishes (the tick's deltas, engine.sender.encoded_batches) go out only when every append applied, after
# them: live state first, then the deltas, in the same round trip; after a refusal the writer repairs the
# state and publishes them itself. A text key gets its TTL when an append creates
# it (APPEND answers the new length: the fragment's own when the key was new); the TTL only clears what
# a crashed run leaves, and the seq's is renewed with every append.
_APPEND_MANY = """
local ttl = ARGV[1]
local applied = {}
local all_applied = true
for i = 0, #KEYS / 3 - 1 do
  local seq = KEYS[3 * i + 3]
  local new_seq = tonumber(ARGV[3 * i + 2])
  if tonumber(redis.call('GET', seq) or '0') == new_seq - 1 then
    for j = 1, 2 do
      local key, fragment = KEYS[3 * i + j], ARGV[3 * i + 2 + j]
      if fragment ~= '' and redis.call('APPEND', key, fragment) == #fragment then
        redis.call('EXPIRE', key, ttl)
      end
    end
    redis.call('SET', seq, new_seq, 'EX', ttl)
    applied[i + 1] = 1
  else
    applied[i + 1] = 0
    all_applied = false
  end
end
if all_applied then
  for i = #KEYS + 2, #ARGV, 2 do
    redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
  end
end
return applied
"""

_APPEND_MANY_SHA = hashlib.sha1(_APPEND_MANY.encode()).hexdigest()


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

    async def append_many(self, appends: list[Append], publishes: Publishes = ()) -> list[bool]:
        """`publishes` is only ever empty here: the in-memory layer of the embedded mode is sent to apart."""
        assert not publishes
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

    def _client(self) -> aioredis.Redis:
        return loop_client(self._url)

    @staticmethod
    def _keys(node_id: str) -> tuple[str, str, str]:
        base = f"prism:live:{node_id}"
        return f"{base}:text", f"{base}:reasoning", f"{base}:seq"

    async def append(self, node_id: str, seq: int, text: str, reasoning: str) -> bool:
        """Add delta `seq` to the state; False (and nothing changed) if the state is not at `seq - 1`."""
        return (await self.append_many([Append(node_id, seq, text, reasoning)]))[0]

    async def append_many(self, appends: list[Append], publishes: Publishes = ()) -> list[bool]:
        """Every append in one round trip and one script call; True for each one applied. `publishes`
        (channel, message) go out in the same call, after the appends, if every append applied."""
        if not appends:
            return []
        keys: list[str] = []
        args: list = [TTL_S]
        for a in appends:
            keys.extend(self._keys(a.node_id))
            args.extend((a.seq, a.text, a.reasoning))
        for channel, message in publishes:
            args.extend((channel, message))
        client = self._client()
        try:
            results = await client.evalsha(_APPEND_MANY_SHA, len(keys), *keys, *args)
        except NoScriptError:
            # Redis restarted or flushed its scripts; a refused call changed nothing.
            results = await client.eval(_APPEND_MANY, len(keys), *keys, *args)
        return [bool(result) for result in results]

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
        return _state(thread_client(self._url).mget(self._keys(node_id)))

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
