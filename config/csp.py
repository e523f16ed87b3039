"""Content-Security-Policy on every response: scripts and styles from this site only, images from this
site and data: URLs only (model output rendered on a page cannot make the browser fetch a remote image
that carries canvas text out), sockets back to this host only."""

from __future__ import annotations

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"

_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def policy_for(request: HttpRequest) -> str:
    """The policy, with the canvas socket's ws:/wss: origin named (older browsers do not take 'self' for it)."""
    try:
        host = request.get_host()
    except DisallowedHost:  # the response is Django's 400 for it; the policy still applies
        return "; ".join(f"{name} {value}" for name, value in _POLICY.items())
    directives = dict(_POLICY, **{"connect-src": f"'self' ws://{host} wss://{host}"})
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = policy_for(request)
        return response
