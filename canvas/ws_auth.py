"""WebSocket authentication: who the socket speaks for, before the consumer decides what they may see.

Three ways in, exactly one applies:
- `Authorization: Bearer <token>` (API clients): that token's user;
- `?share=<token>` in the URL: a share-link guest. Cookies are then ignored, so a page elsewhere that
  knows a share token can never borrow a member's session through it;
- otherwise the browser session, with its Origin checked as Django checks a form's: the same scheme,
  host and port as the socket's own address (or one of CSRF_TRUSTED_ORIGINS), so no page of another
  site, or of another port on the same host, rides on the cookie.
  A browser that opened /s/<token>/ carries that link in its session (canvas.access.SHARE_SESSION_KEY).

A member's socket keeps what it was opened with (its `Credential`) and ends when that does: a token
revoked, a session signed out, a password changed (canvas.consumers).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from importlib import import_module
from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.http.request import is_same_domain
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.models import ApiToken
from accounts.tokens import bearer_from_header, token_for

SHARE_SCOPE_KEY = "prism.share_token"
TOKEN_SCOPE_KEY = "prism.api_token"


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def share_token_from(scope) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("share")
    return values[0] if values else None


class _SocketRequest(HttpRequest):
    """The socket's handshake as Django sees a request: its host (validated against ALLOWED_HOSTS, proxy
    settings honoured) and its scheme (wss is https; SECURE_PROXY_SSL_HEADER honoured)."""

    def __init__(self, scope):
        super().__init__()
        self.META = {f"HTTP_{key.decode('latin-1').upper().replace('-', '_')}": value.decode("latin-1")
                     for key, value in scope.get("headers", [])}  # fmt: skip
        server = scope.get("server") or ("", "")
        self.META.update(SERVER_NAME=str(server[0] or ""), SERVER_PORT=str(server[1] or ""))
        self._secure = scope.get("scheme") in ("wss", "https")

    def _get_scheme(self) -> str:
        return "https" if self._secure else "http"


def origin_allowed(scope) -> bool:
    """Whether a browser's socket comes from this site: Django's CSRF rule for the Origin header."""
    origin = _header(scope, b"origin")
    if not origin:
        return False
    request = _SocketRequest(scope)
    try:
        if origin == f"{request.scheme}://{request.get_host()}":
            return True
    except DisallowedHost:
        return False
    trusted = settings.CSRF_TRUSTED_ORIGINS
    if origin in trusted:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    wildcards = [urlsplit(pattern) for pattern in trusted if "*" in pattern]
    return any(w.scheme == parsed.scheme and is_same_domain(parsed.netloc, w.netloc.lstrip("*")) for w in wildcards)


class _OriginChecked:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.inner(scope, receive, send)


class WebSocketAuth:
    def __init__(self, inner):
        self.inner = inner
        self.session_stack = _OriginChecked(AuthMiddlewareStack(inner))

    async def __call__(self, scope, receive, send):
        raw = bearer_from_header(_header(scope, b"authorization"))
        if raw is not None:
            # A browser cannot set this header on a WebSocket, so no Origin check is needed for it.
            token = await database_sync_to_async(token_for)(raw)
            user, token_id = (token.user, token.id) if token is not None else (AnonymousUser(), None)
            return await self.inner(dict(scope, user=user, **{TOKEN_SCOPE_KEY: token_id}), receive, send)
        share = share_token_from(scope)
        if share is not None:
            return await self.inner(dict(scope, user=AnonymousUser(), **{SHARE_SCOPE_KEY: share}), receive, send)
        return await self.session_stack(scope, receive, send)


# --- a member's credential, and whether it still holds ----------------------------------------------


# The consumer's handler for "a sign-in of yours may have ended" (CanvasConsumer.auth_recheck).
AUTH_RECHECK = "auth.recheck"


@dataclass(frozen=True)
class Credential:
    """What a member's socket was opened with: an API token, or a browser session."""

    user_id: int
    token_id: uuid.UUID | None = None
    session_key: str | None = None

    def ended_by(self, event: dict) -> bool | None:
        """True when the event names this very token or session as ended, False when it names another,
        None when it names none (a password changed: check again)."""
        if event.get("token") is not None or event.get("session") is not None:
            return (event.get("token") == str(self.token_id) and self.token_id is not None) or (
                event.get("session") == self.session_key and self.session_key is not None
            )
        return None


def credential_of(scope, user_id: int) -> Credential:
    token_id = scope.get(TOKEN_SCOPE_KEY)
    if token_id is not None:
        return Credential(user_id=user_id, token_id=token_id)
    session = scope.get("session")
    return Credential(user_id=user_id, session_key=session.session_key if session is not None else None)


def still_signed_in(credentials: list[Credential]) -> list[bool]:
    """For each credential, in order: whether its token is still active, or its session still signed in
    as the same person with the password they had then (read only: the session is left as it is). A few
    queries however many: the tokens in one, the sessions in one and their users in one, as a web
    process's sockets are checked together (canvas.consumers)."""
    token_ids = {c.token_id for c in credentials if c.token_id is not None}  # none: no query
    active = set(ApiToken.objects.active().filter(pk__in=token_ids).values_list("pk", "user_id"))
    sessions = _sessions_signed_in([c for c in credentials if c.token_id is None and c.session_key])
    return [
        (c.token_id, c.user_id) in active if c.token_id is not None else (c.session_key, c.user_id) in sessions
        for c in credentials
    ]


def _sessions_signed_in(credentials: list[Credential]) -> set[tuple[str, int]]:
    """The (session, user) pairs whose session is still signed in as that user with the password hash
    they had when it signed in."""
    data = _sessions_data({c.session_key for c in credentials})
    held = {}
    for c in credentials:
        session = data.get(c.session_key, {})
        if str(session.get(SESSION_KEY)) == str(c.user_id) and session.get(HASH_SESSION_KEY):
            held[(c.session_key, c.user_id)] = session[HASH_SESSION_KEY]
    users = get_user_model()._default_manager.filter(pk__in={user_id for _, user_id in held}, is_active=True)
    hashes = {user.pk: [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()] for user in users}
    return {
        pair
        for pair, hash_held in held.items()
        if any(constant_time_compare(hash_held, expected) for expected in hashes.get(pair[1], ()))
    }


def _sessions_data(keys: set[str]) -> dict[str, dict]:
    """Each session's data, unexpired ones only: in one query where the engine keeps sessions in the
    database (Django's db and cached_db, which writes through to it), else session by session."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not keys:
        return {}
    if hasattr(store, "get_model_class"):
        rows = store.get_model_class().objects.filter(session_key__in=keys, expire_date__gt=timezone.now())
        return {key: store().decode(encoded) for key, encoded in rows.values_list("session_key", "session_data")}
    return {key: store(key).load() for key in keys}
