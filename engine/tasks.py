"""Celery tasks: they take ids, never model instances, and hand streams to the process's loop.

A run's task is acknowledged when it starts, not late. Late acknowledgement buys nothing here: a run
that dies mid-stream must not be run again from the start (its text was shown), and the sweeper
already ends it, or queues it once more if it had streamed nothing, and sends again a queued task that
was lost. And it costs a worker: Celery 5.7 with the Redis broker dies ("Unrecoverable error:
AttributeError ... 'hostname'") when the broker connection drops while it holds an unacknowledged
message, so a Redis restart would kill every stream of every worker. A task that is delivered twice
anyway (a message a dead worker had reserved, after the visibility timeout) finds its node claimed and
does nothing: the claim is a conditional UPDATE.
"""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_init, worker_shutdown

from engine import loops, runner, sweeper
from engine.adapters import close_adapters
from engine.dispatch import RUN_RESPONSES_TASK
from engine.runtime import freeze_startup_heap
from providers.registry import preload


@worker_init.connect
def _settle_worker(**kwargs) -> None:
    preload()
    freeze_startup_heap()


@worker_shutdown.connect
def _close_provider_clients(**kwargs) -> None:
    loops.run_last(close_adapters())


@shared_task(name="engine.tasks.run_response", acks_late=False, ignore_result=True)
def run_response_task(node_id: str) -> None:
    loops.run_and_wait(runner.run_response(node_id))


@shared_task(name=RUN_RESPONSES_TASK, acks_late=False, ignore_result=True)
def run_responses_task(node_ids: list[str]) -> None:
    """A prompt's responses, claimed together (engine.dispatch sends this task)."""
    loops.run_and_wait(runner.run_responses(node_ids))


@shared_task(name="engine.tasks.sweep_stale_runs", ignore_result=True)
def sweep_stale_runs() -> int:
    return sweeper.sweep_stale_runs()
