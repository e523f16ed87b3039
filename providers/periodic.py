"""The embedded mode's periodic jobs (with Redis, Celery beat runs them: config/settings.py,
CELERY_BEAT_SCHEDULE), each a task on the serving loop started by config/asgi.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def every(interval_s: float, job: Callable[[], Awaitable[object]], what: str, *, at_once: bool = False) -> None:
    """Run `job` every `interval_s` seconds until cancelled (first at once, or after one interval); a
    failing run is logged and the next one runs all the same."""
    if at_once:
        await _run(job, what)
    while True:
        await asyncio.sleep(interval_s)
        await _run(job, what)


async def _run(job: Callable[[], Awaitable[object]], what: str) -> None:
    try:
        await job()
    except Exception:
        log.exception("%s failed", what)
