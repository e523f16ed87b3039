"""What every adapter's error handling shares: transport failures and `retry-after` headers.

Each SDK raises its own classes for the same few transport failures; an adapter names its classes
and gets the same ProviderError as every other adapter.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from providers.base import ProviderError


def transport_error(exc: Exception, *, timeouts: tuple, cuts: tuple, unreachable: tuple) -> ProviderError | None:
    """The ProviderError for a timeout, a connection cut mid-stream or an unreachable provider; None for
    anything else (the adapter's own status and API errors).

    An SDK over aiohttp wraps aiohttp's failure twice (httpx2's mapping, then the SDK's class), and the
    mapping calls a dropped connection a connect timeout; the aiohttp failure underneath says what
    happened, so it is classified first."""
    exc = _aiohttp_cause(exc) or exc
    timeouts, cuts = (aiohttp.ServerTimeoutError, *timeouts), (*_AIOHTTP_CUTS, *cuts)
    unreachable = (aiohttp.ClientError, *unreachable)
    if isinstance(exc, timeouts):
        return ProviderError("timeout", "The provider took too long to answer.", retryable=True)
    if isinstance(exc, cuts):
        return ProviderError("stream_cut", "The provider closed the connection mid-stream.")
    if isinstance(exc, unreachable):
        return ProviderError("network", "The provider could not be reached.", retryable=True)
    return None


_AIOHTTP_CUTS = (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError)


def _aiohttp_cause(exc: BaseException | None) -> aiohttp.ClientError | None:
    for _ in range(8):  # a cause chain is short; this bounds a cyclic one
        if exc is None or isinstance(exc, aiohttp.ClientError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def unexpected(exc: Exception) -> ProviderError:
    return ProviderError("server", f"Unexpected failure: {type(exc).__name__}")


def retry_after(headers: Any) -> float | None:
    """Seconds to wait, from `retry-after-ms` (OpenAI's) or `retry-after` (seconds)."""
    if headers is None:
        return None
    for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(header)
        if raw:
            try:
                return max(0.0, float(raw) * scale)
            except ValueError:
                continue
    return None
