"""Every Redis client of the app is made here: one per event loop for coroutines, one per process for
threads. Both survive Redis restarting (a dropped pooled connection is reconnected and the command tried
again, a few times, briefly: every command we send may be)."""

from __future__ import annotations

from functools import lru_cache

import redis
import redis.asyncio as aioredis
import redis.asyncio.retry
import redis.retry
from redis.backoff import ExponentialBackoff
from redis.connection import HiredisRespSerializer
from redis.driver_info import DriverInfo
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine.loops import PerLoop

# Connections one client may open; past that a command waits for a free one instead of failing with
# "Too many connections" (hundreds of streams share one loop's client).
MAX_CONNECTIONS = 64


@lru_cache(maxsize=1)
def _driver_info() -> DriverInfo:
    """What each connection tells the server about its client (CLIENT SETINFO), made once: left to
    redis-py, every new connection reads the package's metadata from disk for its version, about 3 ms of
    CPU, and a burst of runs opens dozens of connections on the stream loop at once."""
    return DriverInfo()


class _PackedInC:
    """A redis.asyncio connection that packs its commands with hiredis, as redis-py's threaded client does.
    Its own packer is Python that copies the command built so far once per argument: the publisher's
    tick, one script call of a few hundred arguments (every delta's keys and text, every canvas's
    message), cost ~330 µs of the stream loop to pack, against ~45 µs in C."""

    def pack_command(self, *args):
        return _PACKER.pack(*args)


_PACKER = HiredisRespSerializer()


@lru_cache(maxsize=8)
def _packed_in_c(connection_class: type) -> type:
    # Whichever class the URL chose (TCP, TLS, a Unix socket), with the C packer.
    return type(connection_class.__name__, (_PackedInC, connection_class), {})


def redis_async(url: str) -> aioredis.Redis:
    """A client of its own, for whoever must close it (a pub/sub listener, a one-off loop); otherwise
    use `loop_client`."""
    retry = redis.asyncio.retry.Retry(ExponentialBackoff(cap=0.5, base=0.05), 3)
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=30,
        retry=retry,
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        driver_info=_driver_info(),
    )
    pool.connection_class = _packed_in_c(pool.connection_class)
    return aioredis.Redis(connection_pool=pool)


_loop_clients: PerLoop[dict[str, aioredis.Redis]] = PerLoop(lambda loop: {})


def loop_client(url: str) -> aioredis.Redis:
    """The running loop's client for `url`, shared by everything on that loop (a redis.asyncio client
    belongs to the loop it was made on)."""
    clients = _loop_clients.get()
    client = clients.get(url)
    if client is None:
        client = clients[url] = redis_async(url)
    return client


def _redis_sync(url: str) -> redis.Redis:
    retry = redis.retry.Retry(ExponentialBackoff(cap=0.5, base=0.05), 3)
    return redis.Redis.from_url(
        url, retry=retry, retry_on_error=[RedisConnectionError, RedisTimeoutError], driver_info=_driver_info()
    )


@lru_cache(maxsize=4)
def thread_client(url: str) -> redis.Redis:
    """The process's client for threads (request threads, the engine's database threads): thread-safe,
    as each command takes a connection from the client's pool."""
    return _redis_sync(url)
