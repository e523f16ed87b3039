"""What every adapter's error handling shares: one mapping from an HTTP status to a ProviderError, one
from a transport failure, and `retry-after` headers.

An adapter reads what its provider's error body says (a type, a reason, a hint in the message) and
names it; the status decides the rest, the same way for every provider. Each SDK raises its own
classes for the same few transport failures over the one HTTP stack (providers/http.py); an adapter
names its SDK's classes and gets the same ProviderError as every other adapter.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx2

from providers.base import ProviderError

# Codes by HTTP status, where the provider's body names none; anything else 4xx is a bad request.
_BY_STATUS = {401: "auth", 403: "auth", 402: "quota", 429: "rate_limited", 503: "overloaded", 529: "overloaded"}
_BY_STATUS |= {408: "timeout", 504: "timeout"}
# Waiting helps with these; the provider may say how long.
_RETRYABLE = ("rate_limited", "overloaded", "server")


def status_error(
    status: int, message: str, *, named: str | None = None, too_long: bool = False, retry_after: float | None = None
) -> ProviderError:
    """The ProviderError for a provider's error answer with this HTTP status.

    `named`: the code the provider's body says outright (a billing error is `quota` whatever its status,
    and an error inside a stream arrives with the stream's 200); `too_long`: the message says the
    context is too long, which makes a bad request `context_length`."""
    code = named or _BY_STATUS.get(status) or ("server" if status >= 500 else "bad_request")
    if code == "bad_request" and too_long:
        code = "context_length"
    if code in _RETRYABLE:
        return ProviderError(code, message, retryable=True, retry_after=retry_after)
    return ProviderError(code, message, retryable=code == "timeout")


def transport_error(
    exc: Exception, *, timeouts: tuple = (), cuts: tuple = (), unreachable: tuple = ()
) -> ProviderError | None:
    """The ProviderError for a timeout, a connection cut mid-stream or an unreachable provider; None for
    anything else (the adapter's own status and API errors). The stack's classes (aiohttp's, httpx2's)
    are known here; an adapter adds its SDK's.

    An SDK over aiohttp wraps aiohttp's failure twice (httpx2's mapping, then the SDK's class), and the
    mapping calls a dropped connection a connect timeout; the aiohttp failure underneath says what
    happened, so it is classified first."""
    exc = _aiohttp_cause(exc) or exc
    timeouts = (aiohttp.ServerTimeoutError, httpx2.TimeoutException, *timeouts)
    cuts = (*_AIOHTTP_CUTS, httpx2.RemoteProtocolError, httpx2.ReadError, *cuts)
    unreachable = (aiohttp.ClientError, httpx2.TransportError, *unreachable)
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
        raw = headers.get(header) or headers.get(header.title())  # a plain dict is case-sensitive
        if raw:
            try:
                return max(0.0, float(raw) * scale)
            except ValueError:
                continue
    return None
