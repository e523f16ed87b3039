"""The one place outbound HTTP clients are made, so the stack, timeouts, limits and TLS are set once.

One stack for every provider: httpx2's interface, which the three SDKs (openai, anthropic, google-genai)
all take, over aiohttp's transport, whose C parser reads a streamed event for the least CPU of the stacks
measured (bench/http_stacks.py; figures in bench/README.md).
"""

from __future__ import annotations

import ssl
from functools import lru_cache

import aiohttp
import certifi
import httpx2
import openai

CONNECT_TIMEOUT_S = 10.0
WRITE_TIMEOUT_S = 30.0
POOL_TIMEOUT_S = 30.0
MAX_CONNECTIONS = 1000
MAX_KEEPALIVE = 100
# An idle pooled connection is dropped after this long: under the 5 s that uvicorn, and so vLLM, keeps
# one open. At exactly 5 s (the clients' default) a stream could take a connection the server was
# closing at that moment, and fail before its first token.
KEEPALIVE_S = 4.0


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    # Loading the CA store costs tens of milliseconds; every run makes a client, so load it once.
    return ssl.create_default_context(cafile=certifi.where())


def make_client(*, read_timeout_s: float = 60.0) -> httpx2.AsyncClient:
    """A client for one adapter's SDK (and for what an adapter posts itself).

    The read timeout bounds the silence between two chunks; the engine enforces the (longer) wait for
    the first token itself, per provider."""
    return openai.DefaultAioHttpClient(
        timeout=httpx2.Timeout(
            connect=CONNECT_TIMEOUT_S, read=read_timeout_s, write=WRITE_TIMEOUT_S, pool=POOL_TIMEOUT_S
        ),
        limits=httpx2.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE, keepalive_expiry=KEEPALIVE_S
        ),
        follow_redirects=False,
        verify=tls_context(),
    )


def make_session() -> aiohttp.ClientSession:
    """The same stack without httpx2's layer, for what an adapter streams without its SDK (the
    OpenAI-compatible streams): a quarter of a millisecond of CPU less per request, and a tenth per
    event. Made on the loop that uses it.

    No read timeout: the engine's runner bounds the wait for the first token and the silence between
    events of every stream (runner.SilenceTimer, re-armed only when it wakes), where aiohttp's would
    cancel and re-arm a timer at every chunk read, for each of hundreds of streams."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_S, ssl=tls_context()),
        # httpx2's connect and pool timeouts in aiohttp's names, as the SDK's own aiohttp transport maps them.
        timeout=aiohttp.ClientTimeout(sock_connect=CONNECT_TIMEOUT_S, connect=POOL_TIMEOUT_S),
    )
