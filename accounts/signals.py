"""What ends a person's sign-ins, told to whoever holds one open (canvas's WebSocket consumers listen).

`credentials_ended` is sent, after the change commits, with `user_id` and what ended:
- `token` (its id): that API token was revoked;
- `session` (its key): that browser session signed out;
- neither: every sign-in may have ended (the password changed, the account was deactivated), so each
  holder checks its own again.

A password change, whichever way it happens (the change and reset pages, the admin panel,
`manage.py changepassword`), also revokes every API token of the account: whoever changes a password
because it leaked wants no token minted with it to keep working. Sessions end by Django's own rule
(their hash no longer matches).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import Signal, receiver
from django.utils import timezone

from accounts.models import ApiToken

credentials_ended = Signal()

# Set on the instance being saved by pre_save, read by post_save.
_ENDED = "_prism_sign_ins_ended"


def _announce(user_id, **ended) -> None:
    transaction.on_commit(lambda: credentials_ended.send(sender=ApiToken, user_id=user_id, **ended))


@receiver(pre_save, sender=settings.AUTH_USER_MODEL)
def _note_password_or_deactivation(sender, instance, update_fields=None, **kwargs) -> None:
    if instance.pk is None or (update_fields is not None and not {"password", "is_active"} & set(update_fields)):
        return  # a new account, or a save that touches neither (a sign-in stamping last_login)
    before = sender._default_manager.filter(pk=instance.pk).values("password", "is_active").first()
    if before is None:
        return
    password_changed = before["password"] != instance.password
    setattr(instance, _ENDED, (password_changed, before["is_active"] and not instance.is_active))


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _end_sign_ins(sender, instance, **kwargs) -> None:
    password_changed, deactivated = getattr(instance, _ENDED, (False, False))
    if hasattr(instance, _ENDED):
        delattr(instance, _ENDED)
    if password_changed:
        ApiToken.objects.filter(user_id=instance.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if password_changed or deactivated:
        _announce(instance.pk)


@receiver(post_save, sender=ApiToken)
def _token_revoked(sender, instance: ApiToken, **kwargs) -> None:
    if instance.revoked_at is not None:
        _announce(instance.user_id, token=str(instance.pk))


@receiver(user_logged_out)
def _signed_out(sender, request, user, **kwargs) -> None:
    # Sent before Django flushes the session: its key is still the one the sockets hold.
    key = getattr(getattr(request, "session", None), "session_key", None)
    if user is not None and key:
        _announce(user.pk, session=key)
