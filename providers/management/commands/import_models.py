from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from providers.base import ProviderError
from providers.connection import import_models
from providers.models import ProviderAccount


class Command(BaseCommand):
    help = (
        "Add the models a provider account lists (GET /v1/models for OpenAI-compatible servers) that "
        "Prism does not know yet, as the admin's 'Import models' action does."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("accounts", nargs="*", metavar="ACCOUNT", help="Provider account names, as in the admin.")
        parser.add_argument("--all", action="store_true", help="Every enabled provider account.")

    def handle(self, *args, accounts: list[str], all: bool, **options) -> None:
        if all == bool(accounts):
            raise CommandError("Name the provider accounts to import from, or pass --all.")
        chosen = list(ProviderAccount.objects.filter(enabled=True)) if all else self._named(accounts)
        failed = []
        for account in chosen:
            try:
                added = import_models(account)
            except ProviderError as exc:
                self.stderr.write(f"{account.name}: {exc.code}: {exc.message}")
                failed.append(account.name)
                continue
            self.stdout.write(f"{account.name}: {added} model(s) added, {account.models.count()} in all")
        if failed:
            raise CommandError(f"No models listed by: {', '.join(failed)}.")

    def _named(self, names: list[str]) -> list[ProviderAccount]:
        found = {account.name: account for account in ProviderAccount.objects.filter(name__in=names)}
        missing = [name for name in names if name not in found]
        if missing:
            known = ", ".join(ProviderAccount.objects.order_by("name").values_list("name", flat=True)) or "none"
            raise CommandError(f"No provider account named {', '.join(map(repr, missing))} (there are: {known}).")
        return [found[name] for name in names]
