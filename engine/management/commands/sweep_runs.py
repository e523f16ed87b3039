from __future__ import annotations

from django.core.management.base import BaseCommand

from engine.sweeper import sweep_stale_runs


class Command(BaseCommand):
    help = "Mark responses whose run has died as interrupted (keeping their partial text)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--all",
            action="store_true",
            help="Every streaming response, however recent: for a single process that is just starting.",
        )

    def handle(self, *args, all: bool, **options) -> None:
        count = sweep_stale_runs(stale_after_s=0 if all else None)
        self.stdout.write(f"{count} response(s) interrupted.")
