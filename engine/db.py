"""The engine's database calls, run off the event loop."""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.conf import settings


async def in_db_thread(function, *args):
    """With PostgreSQL (and its connection pool), runs claim, save and finish on parallel threads, so
    hundreds of streams do not queue behind one; SQLite takes one writer at a time, so the embedded mode
    keeps every call on one thread."""
    return await database_sync_to_async(function, thread_sensitive=settings.EMBEDDED)(*args)
