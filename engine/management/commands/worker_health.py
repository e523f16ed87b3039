from __future__ import annotations

import socket

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Exit 0 when this machine's Celery worker answers a ping through the broker, 1 otherwise: the "
        "worker's health check (docker-compose.yml)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--node",
            default=f"celery@{socket.gethostname()}",
            help="The worker's node name (default: the name a worker started here without -n takes).",
        )
        parser.add_argument("--timeout", type=float, default=5.0, help="Seconds to wait for the answer.")

    def handle(self, *args, node: str, timeout: float, **options) -> None:
        if settings.EMBEDDED:
            raise CommandError("REDIS_URL is not set: runs happen in the web process, there is no worker.")
        from config.celery import app

        try:
            replies = app.control.ping(destination=[node], timeout=timeout)
        except Exception as exc:  # the broker is down: the worker is not ready either
            raise CommandError(f"The broker did not take the ping: {exc}") from exc
        finally:
            app.close()
        if not any(node in reply for reply in replies):
            raise CommandError(f"The worker {node} did not answer within {timeout:g} s.")
        self.stdout.write(f"{node}: ready")
