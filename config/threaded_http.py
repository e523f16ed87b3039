"""Django's HTTP requests under the ASGI server, each one run whole on one thread of a pool.

Under Django's own ASGI handler a request went back and forth between the event loop and a thread many
times: in async mode every built-in middleware runs its request and response hooks through
sync_to_async, and the (synchronous) view is one more round trip. Each hop waits for its turn on the
event loop, and a web process's loop also relays every token to the browsers: under load a prompt's
POST spent most of its time in those waits. Here the loop reads the request body, one thread runs the
whole request through Django's WSGI handler (middleware and view, synchronously), and the loop sends the
answer: one hop there and one back. Requests run side by side on the pool's threads, each thread with
its own database connection (PostgreSQL's from the connection pool; SQLite's kept by the thread), as
under a threaded WSGI server. WebSockets stay with Channels on the loop.

The request threads run at a lower CPU priority than the loop (`nice`, on Linux): in a burst of prompts
the loop, which relays every stream's tokens, otherwise waited for a core and for the interpreter behind
the threads answering the posts, and streams already going stalled for 100-250 ms at a time.

A response is sent whole once the view returns. The only streamed ones are WhiteNoise's static files
(the largest, highlight.js, is 126 KiB), which are read into memory first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from tempfile import SpooledTemporaryFile

from asgiref.sync import SyncToAsync
from asgiref.wsgi import WsgiToAsgiInstance
from django.conf import settings
from django.core.wsgi import get_wsgi_application

from canvas.errors import error_body

BODY_IN_MEMORY_BYTES = 64 * 1024

log = logging.getLogger(__name__)


class ThreadedDjango:
    """An ASGI app for Django's HTTP side (type "http" scopes only)."""

    def __init__(self, threads: int, nice: int = 0, async_on_server_loop: bool = False):
        """`nice`: how much lower the request threads' CPU priority is than the process's (0: the same).
        `async_on_server_loop`: a request's async_to_sync runs its coroutine on the server's loop, as
        under Django's own handler (the embedded mode's in-memory channel layer lives there), instead of
        on a loop of its own."""
        self._django = get_wsgi_application()
        self._threads = ThreadPoolExecutor(
            threads, thread_name_prefix="http", initializer=_lower_priority, initargs=(nice,)
        )
        self._async_on_server_loop = async_on_server_loop

    async def __call__(self, scope, receive, send) -> None:
        # A body over the limit is refused as soon as it is seen to be, before it fills memory or disk:
        # Django would refuse it too, but only once the whole of it had been read.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and _declared_length(scope) > limit:
            return await _answer(send, *_too_large(scope))
        with SpooledTemporaryFile(max_size=BODY_IN_MEMORY_BYTES) as body:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client left before sending its whole request
                body.write(message.get("body", b""))
                if limit is not None and body.tell() > limit:
                    return await _answer(send, *_too_large(scope))
                if not message.get("more_body"):
                    break
            body.seek(0)
            try:
                environ = _environ(scope, body)
            except ValueError:  # more repeated headers than asgiref allows
                status, headers, content = 400, [(b"content-type", b"text/plain")], b"Too many repeated headers."
            else:
                loop = asyncio.get_running_loop()
                home = loop if self._async_on_server_loop else None
                status, headers, content = await loop.run_in_executor(self._threads, self._respond, environ, home)
        await _answer(send, status, headers, content)

    def _respond(self, environ: dict, server_loop: asyncio.AbstractEventLoop | None) -> tuple[int, list, bytes]:
        if server_loop is not None:
            # Where asgiref's AsyncToSync looks for the loop a thread of SyncToAsync's came from.
            SyncToAsync.threadlocal.main_event_loop = server_loop
            SyncToAsync.threadlocal.main_event_loop_pid = os.getpid()
        started: dict = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info=None) -> None:
            started["status"] = int(status.split(" ", 1)[0])
            # Django's WSGI handler writes cookies as " name=value…": the space is a WSGI server's to drop.
            started["headers"] = [
                (name.lower().encode("latin1"), value.strip().encode("latin1")) for name, value in headers
            ]

        response = self._django(environ, start_response)
        try:
            content = b"".join(response)
        finally:
            response.close()  # sends request_finished: the thread's database connection goes back to the pool
        return started["status"], started["headers"], content


def _lower_priority(nice: int) -> None:
    """This thread's nice value raised by `nice`: Linux keeps one per thread, whatever POSIX says."""
    if not nice or sys.platform != "linux":
        return
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + nice))
    except OSError as error:  # a sandbox that forbids it: requests are served all the same
        log.warning("Request threads keep the process's CPU priority: %s", error)


def _environ(scope: dict, body) -> dict:
    """The WSGI environ of an ASGI request, as asgiref's WSGI adapter builds it."""
    adapter = WsgiToAsgiInstance(None)
    adapter.scope = scope  # build_environ reads the headers from here
    return adapter.build_environ(scope, body)


async def _answer(send, status: int, headers: list[tuple[bytes, bytes]], content: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def _declared_length(scope: dict) -> int:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # Django's own reading refuses it
    return 0


def _too_large(scope: dict) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """What canvas.middleware answers under /api/ (JSON), and a plain 413 for pages."""
    if scope["path"].startswith("/api/"):
        content = json.dumps(error_body("too_large", "The request body is too large.")).encode()
        return 413, [(b"content-type", b"application/json"), (b"connection", b"close")], content
    return 413, [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")], b"Request body too large."
