"""Where run coroutines live: one event loop per process holds every stream of that process.

In a worker it is a background thread's loop, which pops the run queue (engine.run_queue) and holds
every stream the worker runs. In the embedded mode it is the ASGI server's own loop, because the
in-memory channel layer only works on the loop its consumers run on.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

_server_loop: asyncio.AbstractEventLoop | None = None
_background_loop: asyncio.AbstractEventLoop | None = None
_background_lock = threading.Lock()
_tasks: set[asyncio.Task] = set()


class PerLoop(Generic[T]):
    """One value per event loop, made by `make(loop)` on first use on that loop, and gone with it: a
    redis.asyncio client, an SDK client or a stream's publisher belongs to the loop it was made on."""

    def __init__(self, make: Callable[[asyncio.AbstractEventLoop], T]):
        self._make = make
        self._values: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def get(self) -> T:
        """The running loop's value, made now if it has none."""
        loop = asyncio.get_running_loop()
        value = self._values.get(loop)
        if value is None:
            value = self._values[loop] = self._make(loop)
        return value

    def find(self) -> T | None:
        """The running loop's value if it has been made, without making it."""
        return self._values.get(asyncio.get_running_loop())


def bind_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Called by the ASGI application so in-process runs land on the server's loop."""
    global _server_loop
    _server_loop = loop


def background_loop() -> asyncio.AbstractEventLoop:
    global _background_loop
    with _background_lock:
        if _background_loop is None or _background_loop.is_closed():
            loop = new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="prism-streams", daemon=True)
            thread.start()
            _background_loop = loop
        return _background_loop


def new_event_loop() -> asyncio.AbstractEventLoop:
    # uvloop (which uvicorn runs on too) spends about a fifth less CPU per socket read than asyncio's
    # own loop, and every relayed token is a read.
    try:
        import uvloop
    except ImportError:  # not on every platform (Windows)
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _keep(task: asyncio.Task) -> None:
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("A run failed outside its own error handling", exc_info=task.exception())


def spawn(coro: Coroutine) -> None:
    """Start a coroutine without waiting for it: on the server loop if there is one."""
    loop = _server_loop if _server_loop is not None and not _server_loop.is_closed() else background_loop()
    # A fresh context: a run must not inherit the request's (asgiref binds its executor to it).
    loop.call_soon_threadsafe(lambda: _keep(loop.create_task(coro)), context=contextvars.Context())


def run_last(coro: Coroutine, timeout_s: float = 10.0) -> None:
    """At shutdown: run a coroutine on the stream loop if this process started one, and wait for it."""
    loop = _background_loop
    if loop is None or loop.is_closed():
        coro.close()
        return
    asyncio.run_coroutine_threadsafe(coro, loop).result(timeout_s)
