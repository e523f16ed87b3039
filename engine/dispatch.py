"""Start runs once the transaction that created their nodes has committed."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from engine import loops
from engine.runner import run_responses


def start_runs(node_ids: list) -> None:
    ids = [str(node_id) for node_id in node_ids]
    transaction.on_commit(lambda: _enqueue(ids))


def _enqueue(node_ids: list[str]) -> None:
    if settings.EMBEDDED:
        loops.spawn(run_responses(node_ids))
        return
    from engine.tasks import run_responses_task

    run_responses_task.delay(node_ids)
