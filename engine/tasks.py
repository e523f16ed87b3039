"""Celery tasks: they take ids, never model instances, and hand streams to the process's loop."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_init

from engine import loops, runner, sweeper
from providers.registry import preload


@worker_init.connect
def _preload_adapters(**kwargs) -> None:
    preload()


@shared_task(name="engine.tasks.run_response", acks_late=True, ignore_result=True)
def run_response_task(node_id: str) -> None:
    # A redelivered task finds its node no longer queued and does nothing: never two runs at once.
    loops.run_and_wait(runner.run_response(node_id))


@shared_task(name="engine.tasks.sweep_stale_runs", ignore_result=True)
def sweep_stale_runs() -> int:
    return sweeper.sweep_stale_runs()
