"""Celery tasks of the providers: the periodic import of the models servers list, and the periodic
reading of the vLLM servers' metrics (config/settings.py, CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from providers import env_sync, server_scrape


@shared_task(name="providers.tasks.sync_served_models", ignore_result=True)
def sync_served_models() -> int:
    return env_sync.sync_served_models()


@shared_task(name="providers.tasks.scrape_servers", ignore_result=True)
def scrape_servers() -> int:
    return server_scrape.scrape_servers()
