"""The queue of run starts between the web processes and the workers, in services mode: a Redis list of
prompts, each a JSON array of its response ids (engine.dispatch pushes one per prompt), which each worker's
stream loop pops and runs.

It replaced a Celery task per prompt. Publishing that task cost the posting request ~0.6 ms of CPU
(kombu builds a message, its headers and properties) against ~0.1 ms for a push, and receiving it cost the worker a
consumer turn, a thread from its pool and a hop to the loop, while here the loop pops up to its free room
in one command and starts the prompts at once: in a burst, a hundred prompts are a few pops.

Delivery is as Celery's early acknowledgement was: a prompt popped by a worker that dies before claiming
it stays queued, and the sweeper sends it again (engine.sweeper); a prompt delivered twice finds its
nodes claimed and does nothing. A worker runs at most `capacity` prompts at once (its
`--concurrency`, as when each prompt held one of its threads); past that, prompts wait in the list for
whichever worker has room.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

from redis.exceptions import RedisError

from engine.redis_clients import redis_async
from engine.runner import run_responses

log = logging.getLogger(__name__)

KEY = "prism:run-starts"
# How long one blocking pop waits before the loop looks whether it should stop: a pop is never
# cancelled, as a cancelled pop can take a prompt off the list and drop it.
POLL_S = 1.0


def encode(node_ids: list[str]) -> str:
    return json.dumps(node_ids)


def _node_ids(entry: bytes) -> list[str]:
    ids = json.loads(entry)
    if not isinstance(ids, list):
        raise TypeError("not a list")
    return [str(uuid.UUID(node_id)) for node_id in ids]


class RunQueue:
    def __init__(self, redis_url: str, capacity: int):
        self.redis_url = redis_url
        self.capacity = capacity
        self._running: set[asyncio.Task] = set()
        self._stopping = False
        self._has_room = asyncio.Event()
        self._served: asyncio.Future | None = None

    async def serve(self) -> None:
        """Pop and run prompts until `stop`."""
        self._served = asyncio.get_running_loop().create_future()
        client = redis_async(self.redis_url)
        try:
            while not self._stopping:
                room = self.capacity - len(self._running)
                if room <= 0:  # a full worker leaves the prompts in the list for another
                    self._has_room.clear()
                    await self._has_room.wait()
                    continue
                try:
                    prompts = await self._pop(client, room)
                except Exception:  # Redis away: the client has retried already; wait and try again
                    log.warning("Could not read the run queue", exc_info=True)
                    await asyncio.sleep(POLL_S)
                    continue
                for node_ids in prompts:
                    self._start(node_ids)
        finally:
            await client.aclose()
            self._served.set_result(None)

    async def _pop(self, client, room: int) -> list[list[str]]:
        """The prompts waiting, up to `room`: a blocking pop for the first, one more pop for the rest.
        Once a prompt is off the list it is run: a failure after the first pop loses none of it."""
        first = await client.blpop([KEY], timeout=POLL_S)
        if first is None:
            return []
        popped = [first[1]]
        if room > 1:
            try:
                popped += await client.lpop(KEY, room - 1) or []
            except RedisError:  # the rest stay in the list, for the next pop or another worker
                log.warning("Could not read more of the run queue", exc_info=True)
        prompts = []
        for entry in popped:
            try:
                prompts.append(_node_ids(entry))
            except (ValueError, TypeError, AttributeError):
                # Claims coalesce: one id that is no UUID would fail the claim of every prompt beside it.
                log.error("Dropped a run queue entry that is not a list of node ids: %r", entry[:200])
        return prompts

    def _start(self, node_ids: list[str]) -> None:
        task = asyncio.get_running_loop().create_task(run_responses(node_ids))
        self._running.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task) -> None:
        self._running.discard(task)
        self._has_room.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("A prompt's runs failed outside their own error handling", exc_info=task.exception())

    async def stop(self) -> None:
        """Take no more prompts (within POLL_S), then wait for those running to end."""
        self._stopping = True
        self._has_room.set()
        if self._served is not None:
            await self._served
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
