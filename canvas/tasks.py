"""Celery tasks of canvases: the periodic purge of canvases deleted long enough ago (config/settings.py,
CELERY_BEAT_SCHEDULE; the embedded mode runs it from config/asgi.py)."""

from __future__ import annotations

from celery import shared_task

from canvas import trash


@shared_task(name="canvas.tasks.purge_deleted_canvases", ignore_result=True)
def purge_deleted_canvases() -> int:
    return trash.purge_deleted()
