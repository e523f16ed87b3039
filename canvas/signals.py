"""Every user gets a personal team the moment the account exists."""

from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from canvas.models import Membership, Role, Team


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def create_personal_team(sender, instance, created: bool, **kwargs) -> None:
    if created:
        team = Team.objects.create(name=f"{instance.get_username()}'s team", personal=True)
        Membership.objects.create(team=team, user=instance, role=Role.OWNER)
