from __future__ import annotations

from django.apps import AppConfig


class CanvasConfig(AppConfig):
    name = "canvas"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from canvas import judge, signals  # noqa: F401 - they connect their receivers
