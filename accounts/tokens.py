"""Bearer-token authentication shared by the HTTP API and the WebSocket."""

from __future__ import annotations

from accounts.models import ApiToken, digest_token, note_use


def bearer_from_header(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_for(raw: str) -> ApiToken | None:
    """The active token (of an active user) this is, with its user, or None."""
    # The digest is unique: no ORDER BY for first() to build on every request.
    token = next(iter(ApiToken.objects.active().select_related("user").filter(digest=digest_token(raw))[:1]), None)
    if token is None:
        return None
    note_use(token)
    return token


def user_for_token(raw: str):
    """The active user the token belongs to, or None."""
    token = token_for(raw)
    return token.user if token is not None else None
