from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from providers import crypto
from providers.models import ProviderAccount


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored provider key with the newest key in PRISM_ENCRYPTION_KEYS. "
        "Put the new key first, run this, then drop the old key from the setting."
    )

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        count = 0
        for account in ProviderAccount.objects.select_for_update().exclude(api_key_encrypted=""):
            account.api_key_encrypted = crypto.rotate(account.api_key_encrypted)
            account.save(update_fields=["api_key_encrypted"])
            count += 1
        self.stdout.write(f"Re-encrypted {count} provider key(s) with the newest key.")
