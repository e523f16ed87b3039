"""WebSocket authentication: who the socket speaks for, before the consumer decides what they may see.

Three ways in, exactly one applies:
- `Authorization: Bearer <token>` (API clients): that token's user;
- `?share=<token>` in the URL: a share-link guest. Cookies are then ignored, so a page elsewhere that
  knows a share token can never borrow a member's session through it;
- otherwise the browser session, with its Origin checked (no cross-site socket rides on the cookie).
  A browser that opened /s/<token>/ carries that link in its session (canvas.access.SHARE_SESSION_KEY).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.models import AnonymousUser

from accounts.tokens import bearer_from_header, user_for_token

SHARE_SCOPE_KEY = "prism.share_token"


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def share_token_from(scope) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("share")
    return values[0] if values else None


class WebSocketAuth:
    def __init__(self, inner):
        self.inner = inner
        self.session_stack = AllowedHostsOriginValidator(AuthMiddlewareStack(inner))

    async def __call__(self, scope, receive, send):
        raw = bearer_from_header(_header(scope, b"authorization"))
        if raw is not None:
            # A browser cannot set this header on a WebSocket, so no Origin check is needed for it.
            user = await database_sync_to_async(user_for_token)(raw)
            return await self.inner(dict(scope, user=user or AnonymousUser()), receive, send)
        share = share_token_from(scope)
        if share is not None:
            return await self.inner(dict(scope, user=AnonymousUser(), **{SHARE_SCOPE_KEY: share}), receive, send)
        return await self.session_stack(scope, receive, send)
