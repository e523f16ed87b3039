"""WebSocket authentication: a bearer token (API clients) or the browser session with its Origin checked."""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.models import AnonymousUser

from accounts.tokens import bearer_from_header, user_for_token


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class WebSocketAuth:
    def __init__(self, inner):
        self.inner = inner
        self.session_stack = AllowedHostsOriginValidator(AuthMiddlewareStack(inner))

    async def __call__(self, scope, receive, send):
        raw = bearer_from_header(_header(scope, b"authorization"))
        if raw is None:
            return await self.session_stack(scope, receive, send)
        # A browser cannot set this header on a WebSocket, so no Origin check is needed for it.
        user = await database_sync_to_async(user_for_token)(raw)
        return await self.inner(dict(scope, user=user or AnonymousUser()), receive, send)
