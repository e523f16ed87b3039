"""Bearer-token authentication shared by the HTTP API and the WebSocket."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from accounts.models import ApiToken, digest_token, note_use
from config import sql


def bearer_from_header(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_for(raw: str) -> ApiToken | None:
    """The active token (of an active user) this is, with its user, or None."""
    # Every API request asks this: written out (config.sql), the same rows as
    # ApiToken.objects.active().select_related("user").filter(digest=…).
    user_model = get_user_model()
    found = sql.rows(
        f"SELECT {sql.columns(ApiToken, 't')}, {sql.columns(user_model, 'u')} FROM {sql.table(ApiToken)} t"
        f" JOIN {sql.table(user_model)} u ON u.id = t.user_id"
        " WHERE t.digest = %s AND t.revoked_at IS NULL AND u.is_active",
        [digest_token(raw)],
    )
    if not found:
        return None
    width = sql.width(ApiToken)
    token = sql.load(ApiToken, found[0][:width])
    token.user = sql.load(user_model, found[0][width:])
    note_use(token)
    return token


def user_for_token(raw: str):
    """The active user the token belongs to, or None."""
    token = token_for(raw)
    return token.user if token is not None else None
