"""Bearer-token authentication shared by the HTTP API and the WebSocket."""

from __future__ import annotations

from django.utils import timezone

from accounts.models import ApiToken, digest_token


def bearer_from_header(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_for(raw: str) -> ApiToken | None:
    """The active token (of an active user) this is, with its user, or None."""
    token = ApiToken.objects.active().select_related("user").filter(digest=digest_token(raw)).first()
    if token is None:
        return None
    now = timezone.now()
    # Touch at most once a minute: a busy client should not turn every read into a write.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def user_for_token(raw: str):
    """The active user the token belongs to, or None."""
    token = token_for(raw)
    return token.user if token is not None else None
