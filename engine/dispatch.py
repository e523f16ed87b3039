"""Start runs once the transaction that created their nodes has committed: on this process's stream loop
in the embedded mode, otherwise through the run queue (engine.run_queue) to a worker's loop."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from engine import loops, run_queue
from engine.redis_clients import thread_client
from engine.runner import run_responses


def start_runs(node_ids: list) -> None:
    ids = [str(node_id) for node_id in node_ids]
    transaction.on_commit(lambda: _enqueue(ids))


def _enqueue(node_ids: list[str]) -> None:
    if settings.EMBEDDED:
        loops.spawn(run_responses(node_ids))
        return
    # A prompt's responses in one entry: one push for the request that posts it, not one per model.
    thread_client(settings.REDIS_URL).rpush(run_queue.KEY, run_queue.encode(node_ids))
