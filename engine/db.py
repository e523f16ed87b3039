"""The engine's database calls, run off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

from channels.db import database_sync_to_async
from django.conf import settings

T = TypeVar("T")
R = TypeVar("R")


async def in_db_thread(function, *args):
    """With PostgreSQL (and its connection pool), the engine's calls (claims and endings in batches,
    `Coalesced`, and the partial saves) run on parallel threads, so hundreds of streams do not queue
    behind one; SQLite takes one writer at a time, so the embedded mode
    keeps every call on one thread."""
    return await database_sync_to_async(function, thread_sensitive=settings.EMBEDDED)(*args)


class Coalesced(Generic[T, R]):
    """One loop's calls of a batch function, coalesced: the calls made while a batch is on its database
    thread are run together as the next batch. Alone, a call runs at once; in a burst, a hundred take a
    few batches instead of a hundred threads, each making its own statements, whose Python kept the loop
    that relays every stream from the interpreter (the threads share one).

    `run_batch(items)` answers each item in order: its result, or the exception that item alone raised.
    If it raises, every call of that batch raises it. `in_thread(run_batch, items)` runs a batch off the
    loop: `in_db_thread` unless the caller's database work has a thread of its own."""

    def __init__(self, run_batch: Callable[[list[T]], list[R | BaseException]], in_thread=in_db_thread):
        self._run_batch = run_batch
        self._in_thread = in_thread
        self._waiting: list[tuple[T, asyncio.Future]] = []
        self._runner: asyncio.Task | None = None  # held here: the loop keeps only a weak reference

    async def __call__(self, item: T) -> R:
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self._run_while_waiting())
        return await future

    async def _run_while_waiting(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    results = await self._in_thread(self._run_batch, [item for item, _ in batch])
                except asyncio.CancelledError:
                    for _, future in [*batch, *self._waiting]:
                        future.cancel()
                    raise
                except Exception as exc:  # noqa: BLE001 - each caller fails as its own call would have
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._runner = None
