from __future__ import annotations

import hashlib
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

TOKEN_PREFIX = "prism_"


# A secret's last use is written at most this often: a busy client should not turn every read into a write.
LAST_USED_EVERY_S = 60


def digest_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def note_use(secret: models.Model) -> None:
    """Record that `secret` (an API token or a share link, each with `last_used_at`) was used just now."""
    now = timezone.now()
    if secret.last_used_at is None or (now - secret.last_used_at).total_seconds() > LAST_USED_EVERY_S:
        type(secret).objects.filter(pk=secret.pk).update(last_used_at=now)


class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, user__is_active=True)


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 digest is stored; the token itself is shown once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    digest = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12, help_text="The first characters, to tell tokens apart.")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.hint}… ({self.user})"

    @classmethod
    def issue(cls, user, name: str = "") -> tuple[ApiToken, str]:
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, digest=digest_token(raw), hint=raw[:10])
        return token, raw
