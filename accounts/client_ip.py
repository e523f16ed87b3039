"""The address a request came from, for counting failed sign-ins per address (django-axes)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """Behind PRISM_PROXY_COUNT reverse proxies, the address the outermost of them saw: each appends the
    address it was reached from to X-Forwarded-For, so the Nth entry from the right is the one no client
    can forge. With none, the socket's own peer."""
    proxies = settings.PRISM_PROXY_COUNT
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")
