"""Start runs once the transaction that created their nodes has committed: on this process's stream loop
in the embedded mode, otherwise on a Celery worker (engine.tasks runs them there)."""

from __future__ import annotations

from celery import current_app
from django.conf import settings
from django.db import transaction

from engine import loops
from engine.runner import run_responses

# The worker's task (engine.tasks.run_responses_task), sent by its name: starting a run needs nothing of
# the worker's side, whose tasks (the sweeper's among them) start runs through here.
RUN_RESPONSES_TASK = "engine.tasks.run_responses"


def start_runs(node_ids: list) -> None:
    ids = [str(node_id) for node_id in node_ids]
    transaction.on_commit(lambda: _enqueue(ids))


def _enqueue(node_ids: list[str]) -> None:
    if settings.EMBEDDED:
        loops.spawn(run_responses(node_ids))
        return
    # A prompt's responses in one message: one publish for the request that posts it, not one per model.
    current_app.send_task(RUN_RESPONSES_TASK, args=[node_ids], ignore_result=True)  # as the task's .delay did
