"""Every user gets a personal team the moment the account exists; a member who loses a role loses what
they made with it (canvas.membership.withdraw_grants), however the role went: the team pages, the API,
the admin panel; a sign-in that ends (accounts.signals) closes the canvas sockets opened with it."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.signals import credentials_ended
from canvas.membership import withdraw_grants
from canvas.models import Membership, Role, Team
from canvas.ws_auth import AUTH_RECHECK
from engine.sender import notify_from_thread, person_group

log = logging.getLogger(__name__)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def create_personal_team(sender, instance, created: bool, **kwargs) -> None:
    if created:
        team = Team.objects.create(name=f"{instance.get_username()}'s team", personal=True)
        Membership.objects.create(team=team, user=instance, role=Role.OWNER)


@receiver(post_save, sender=Membership)
def role_changed(sender, instance: Membership, created: bool, update_fields=None, **kwargs) -> None:
    # A new member has made nothing in the team yet.
    if not created and (update_fields is None or "role" in update_fields):
        withdraw_grants(instance.team_id, instance.user_id, instance.role)


@receiver(post_delete, sender=Membership)
def member_gone(sender, instance: Membership, **kwargs) -> None:
    withdraw_grants(instance.team_id, instance.user_id, None)


@receiver(credentials_ended)
def sign_in_ended(sender, user_id, token: str | None = None, session: str | None = None, **kwargs) -> None:
    # Every socket of the person hears it; each closes if it was opened with what ended (see CanvasConsumer).
    event = {"type": AUTH_RECHECK, "token": token, "session": session}
    try:
        notify_from_thread([person_group(user_id)], event)
    except Exception:
        # The channel layer away must not fail a sign-out: each socket's watchdog checks again anyway.
        log.exception("Telling the sockets of user %s that a sign-in ended failed", user_id)
