from __future__ import annotations

from django.core.management.base import BaseCommand

from providers.env_sync import sync_providers


class Command(BaseCommand):
    help = "Bring the providers set in the environment (and the simulator) into the database."

    def handle(self, *args, **options) -> None:
        for account in sync_providers():
            count = account.models.filter(enabled=True).count()
            self.stdout.write(f"{account.name}: {count} model(s)")
