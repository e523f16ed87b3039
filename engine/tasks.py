"""The worker process: its Celery tasks (periodic upkeep; they take ids, never model instances), and the
run queue its stream loop serves from start to shutdown (engine.run_queue: prompts do not go through
Celery).

Tasks are acknowledged when they start, not late. Late acknowledgement buys nothing here: a run that
dies mid-stream must not be run again from the start (its text was shown), and the sweeper already ends
it, or queues it once more if it had streamed nothing, and sends again a queued prompt that was lost.
And it costs a worker: Celery 5.7 with the Redis broker dies ("Unrecoverable error: AttributeError ...
'hostname'") when the broker connection drops while it holds an unacknowledged message, so a Redis
restart would kill every stream of every worker.
"""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_init, worker_shutdown
from django.conf import settings

from engine import loops, sweeper
from engine.adapters import close_adapters
from engine.run_queue import RunQueue
from engine.runtime import freeze_startup_heap
from providers.registry import preload

# How long a stopping worker waits for the prompts it runs to end, within compose's 60 s grace period;
# what is still running then is ended by the sweeper as an interrupted run.
DRAIN_S = 50.0

_queue: RunQueue | None = None


@worker_init.connect
def _settle_worker(sender=None, **kwargs) -> None:
    global _queue
    preload()
    freeze_startup_heap()
    if settings.REDIS_URL:
        # Prompts a worker runs at once: its --concurrency, as when each prompt held one of its threads.
        _queue = RunQueue(settings.REDIS_URL, capacity=getattr(sender, "concurrency", None) or 200)
        loops.spawn(_queue.serve())


@worker_shutdown.connect
def _finish_runs_and_close(**kwargs) -> None:
    if _queue is not None:
        try:
            loops.run_last(_queue.stop(), timeout_s=DRAIN_S)
        except TimeoutError:
            pass  # the sweeper ends what was still running
    loops.run_last(close_adapters())


@shared_task(name="engine.tasks.sweep_stale_runs", ignore_result=True)
def sweep_stale_runs() -> int:
    return sweeper.sweep_stale_runs()
