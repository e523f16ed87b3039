"""The one place outbound HTTP clients are made, so timeouts, limits and TLS are set once."""

from __future__ import annotations

import ssl
from functools import lru_cache

import certifi
import httpx
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


def _client_options(library, read_timeout_s: float) -> dict:
    """Timeouts, limits and TLS for a client of `library` (httpx or httpx2: the same names in both).

    The read timeout bounds the silence between two chunks; the engine enforces the (longer) wait for
    the first token itself, per provider."""
    return {
        "timeout": library.Timeout(
            connect=CONNECT_TIMEOUT_S, read=read_timeout_s, write=WRITE_TIMEOUT_S, pool=POOL_TIMEOUT_S
        ),
        "limits": library.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE, keepalive_expiry=KEEPALIVE_S
        ),
        "follow_redirects": False,
        "verify": tls_context(),
    }


def make_http_client(*, read_timeout_s: float = 60.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(**_client_options(httpx, read_timeout_s))


def make_aiohttp_client(*, read_timeout_s: float = 60.0) -> httpx2.AsyncClient:
    """The client for the openai SDK's streams: httpx2's interface over aiohttp's transport."""
    return openai.DefaultAioHttpClient(**_client_options(httpx2, read_timeout_s))


def make_httpx2_client(*, read_timeout_s: float = 60.0) -> httpx2.AsyncClient:
    """The same client for SDKs built on httpx2 (anthropic 2.x), which refuse httpx objects."""
    return httpx2.AsyncClient(**_client_options(httpx2, read_timeout_s))
