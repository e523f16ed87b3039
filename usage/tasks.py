"""Celery task of the usage reports: rolling up the days that closed (config/settings.py,
CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from usage import rollups


@shared_task(name="usage.tasks.build_rollups", ignore_result=True)
def build_rollups() -> int:
    built = rollups.build()
    return built.days + built.months
