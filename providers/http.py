"""The one place outbound HTTP clients are made, so timeouts and limits are set once."""

from __future__ import annotations

import httpx
import httpx2

CONNECT_TIMEOUT_S = 10.0


def make_http_client(*, read_timeout_s: float = 60.0) -> httpx.AsyncClient:
    # The read timeout bounds the silence between two chunks; the engine enforces the (longer)
    # wait for the first token itself, per provider.
    timeout = httpx.Timeout(connect=CONNECT_TIMEOUT_S, read=read_timeout_s, write=30.0, pool=30.0)
    return httpx.AsyncClient(
        timeout=timeout,
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
        follow_redirects=False,
    )


def make_httpx2_client(*, read_timeout_s: float = 60.0) -> httpx2.AsyncClient:
    """The same client for SDKs built on httpx2 (anthropic 2.x), which refuse httpx objects."""
    timeout = httpx2.Timeout(connect=CONNECT_TIMEOUT_S, read=read_timeout_s, write=30.0, pool=30.0)
    return httpx2.AsyncClient(
        timeout=timeout,
        limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=100),
        follow_redirects=False,
    )
