"""Roll up the usage figures of every closed day and month not rolled up yet (usage/rollups.py): run once
after upgrading, to roll up the runs already stored; Celery beat then keeps it up every
PRISM_USAGE_ROLLUP_S. Reports are exact without it (they read the days not rolled up from the runs), only
slower over long periods."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from usage import rollups


class Command(BaseCommand):
    help = "Roll up the usage figures of closed days (PostgreSQL; SQLite has no roll-ups)."

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true", help="drop every roll-up and build them all again")

    def handle(self, *args, rebuild: bool = False, **options):
        if not rollups.available():
            self.stdout.write("Nothing to roll up: on SQLite every report is computed from the runs.")
            return
        built = rollups.build(rebuild=rebuild)
        self.stdout.write(
            f"{built.days} days and {built.months} months rolled up;"
            f" {built.skipped} left for later (a run still going, or being written)."
        )
