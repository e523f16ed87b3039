"""Provider adapters shared by the streams of one event loop, so they reuse their connections.

An adapter holds an SDK client and its HTTP connection pool. Made for every stream, each stream paid
for a new client (about half a millisecond of CPU, under load several milliseconds of wall time) and a
new connection: a TCP handshake, and to a remote API a TLS one, tens to hundreds of milliseconds of
its time to first token. Shared, a stream takes a warm connection from the pool.

A stream the engine stops (cancelled, timed out, cut) leaves its response unread, and an HTTP client
never puts such a connection back in its pool: it closes it, so a self-hosted vLLM still sees the
disconnect at once and frees the slot.

An account whose settings change (a new key, another base URL or timeout) gets a new adapter; the old
one is closed when its last stream ends. An adapter that no stream has used for IDLE_S is closed too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from engine.loops import PerLoop
from providers.base import AccountConfig, Adapter
from providers.registry import adapter_for

log = logging.getLogger(__name__)

IDLE_S = 60.0


class _Shared:
    def __init__(self, account: AccountConfig, adapter: Adapter):
        self.account = account
        self.adapter = adapter
        self.streams = 0
        self.idle_timer: asyncio.TimerHandle | None = None


class AdapterPool:
    """The adapters of one loop, one per provider account."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._current: dict[str, _Shared] = {}
        self._closing: set[asyncio.Task] = set()

    @asynccontextmanager
    async def adapter(self, account: AccountConfig) -> AsyncIterator[Adapter]:
        key = _key(account)
        shared = self._current.get(key)
        if shared is None or shared.account != account:
            if shared is not None:
                self._retire(key, shared)
            shared = self._current[key] = _Shared(account, adapter_for(account))
        if shared.idle_timer is not None:
            shared.idle_timer.cancel()
            shared.idle_timer = None
        shared.streams += 1
        try:
            yield shared.adapter
        finally:
            shared.streams -= 1
            if shared.streams == 0:
                if self._current.get(key) is shared:
                    shared.idle_timer = self._loop.call_later(IDLE_S, self._retire, key, shared)
                else:
                    self._close(shared)

    def _retire(self, key: str, shared: _Shared) -> None:
        """Hand this adapter out no more; close it now if no stream uses it, else when the last one ends."""
        if self._current.get(key) is shared:
            del self._current[key]
        if shared.streams == 0:
            self._close(shared)

    def _close(self, shared: _Shared) -> None:
        if shared.idle_timer is not None:
            shared.idle_timer.cancel()
        task = self._loop.create_task(shared.adapter.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closed)

    def _closed(self, task: asyncio.Task) -> None:
        self._closing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("Closing a provider client failed (%s)", task.exception())

    async def close_all(self) -> None:
        """Close every adapter (the loop is about to end); a stream still running keeps its own."""
        for key, shared in list(self._current.items()):
            self._retire(key, shared)
        if self._closing:
            await asyncio.wait(set(self._closing))


def _key(account: AccountConfig) -> str:
    return account.account_id or f"{account.kind} {account.base_url}"


_pools: PerLoop[AdapterPool] = PerLoop(AdapterPool)


def adapter_pool() -> AdapterPool:
    """The running loop's pool (an SDK client, like its connections, belongs to one loop)."""
    return _pools.get()


async def close_adapters() -> None:
    """Close the running loop's adapters, if it has any."""
    pool = _pools.find()
    if pool is not None:
        await pool.close_all()
