from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Embedded default only: make sure a local 'demo' account exists, so `make run` works at once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo")

    def handle(self, *args, username: str, password: str, **options) -> None:
        if not settings.EMBEDDED:
            raise CommandError("The demo account is for the embedded default only (REDIS_URL is set).")
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            User.objects.create_superuser(username=username, password=password, email="")
            self.stdout.write(f"Created the local account {username!r}.")
