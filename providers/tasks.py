"""Celery tasks of the providers: the periodic import of the models servers list (config/settings.py,
CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from providers import env_sync


@shared_task(name="providers.tasks.sync_served_models", ignore_result=True)
def sync_served_models() -> int:
    return env_sync.sync_served_models()
