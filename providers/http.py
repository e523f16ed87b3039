"""The one place outbound HTTP clients are made, so timeouts and limits are set once."""

from __future__ import annotations

import httpx

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
