"""Who may use the built-in simulator this app serves under /simulator/: the app itself (its internal key,
settings.PRISM_SIMULATOR_KEY, which env_sync gives the simulator's provider account), an API token's
holder, or a signed-in browser. Anyone else gets a 401 before the simulator reads a byte of the body;
/health stays open, as vLLM's is."""

from __future__ import annotations

import hmac
from http.cookies import CookieError, SimpleCookie
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user

from accounts.tokens import bearer_from_header, user_for_token
from providers.simulator import wire
from providers.simulator.respond import send_json


class SimulatorGate:
    def __init__(self, app, prefix: str) -> None:
        self.app = app
        self.open_paths = {f"{prefix}/health"}
        self.key = settings.PRISM_SIMULATOR_KEY.encode()

    async def __call__(self, scope: dict[str, Any], receive, send) -> None:
        if scope["path"] in self.open_paths or await self._allowed(scope):
            return await self.app(scope, receive, send)
        body = wire.error_body("Sign in, or send an API token as `Authorization: Bearer …`.", code="invalid_api_key")
        await send_json(send, 401, body, [(b"www-authenticate", b"Bearer")])

    async def _allowed(self, scope: dict[str, Any]) -> bool:
        headers = dict(scope.get("headers", []))
        raw = bearer_from_header(headers.get(b"authorization", b"").decode("latin-1"))
        if raw is not None:
            if hmac.compare_digest(raw.encode(), self.key):
                return True
            return await database_sync_to_async(user_for_token)(raw) is not None
        session_key = _cookie(headers.get(b"cookie", b"").decode("latin-1"), settings.SESSION_COOKIE_NAME)
        return session_key is not None and await database_sync_to_async(_signed_in)(session_key)


def _cookie(header: str, name: str) -> str | None:
    try:
        morsel = SimpleCookie(header).get(name)
    except CookieError:
        return None
    return morsel.value if morsel is not None else None


def _signed_in(session_key: str) -> bool:
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    # Django's own check: the session's user exists, is active and its password has not changed since.
    return get_user(SimpleNamespace(session=store)).is_authenticated
