"""Every response reaches an end, whatever happens to the process that runs it.

A run writes a heartbeat while it lives. The sweeper (every PRISM_SWEEP_INTERVAL_S: by Celery beat, or
in the embedded mode by the server's own loop, besides once at start-up) takes a streaming response
whose heartbeat is older than PRISM_STALE_AFTER_S for dead: it is marked interrupted with the newest
text there is (the live store is often ahead of the database). A response that had streamed nothing
is put back in the queue instead, once: its second death is an interruption too. A queued response
whose task was lost (a broker that restarted empty) is queued again; the claim is conditional, so a
duplicate task finds nothing to do.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import timedelta

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db.models.functions import Coalesce
from django.utils import timezone
from redis.exceptions import RedisError

from canvas.models import Node, NodeStatus
from engine import events, sender
from engine.db import in_db_thread
from engine.dispatch import start_runs
from engine.live import live_store
from engine.payloads import node_payload

log = logging.getLogger(__name__)

# A run that had streamed nothing is tried this many times in all before it is interrupted.
MAX_ATTEMPTS = 2
# A queued response older than this is given up on: it is not coming back (the broker's visibility
# timeout, after which a lost task would have been delivered again, is as long).
QUEUED_GIVE_UP_S = 3600.0


def sweep_stale_runs(stale_after_s: float | None = None, *, requeue: bool | None = None) -> int:
    """End (or queue again) the responses whose run has died; how many were touched.

    `requeue` says whether a run can be started from here: in a Celery deployment it can (any
    worker picks the task up); the embedded mode's start-up sweep runs in a process that is about to
    exit, so there every dead run is interrupted.
    """
    limit = settings.PRISM_STALE_AFTER_S if stale_after_s is None else stale_after_s
    requeue = not settings.EMBEDDED if requeue is None else requeue
    now = timezone.now()
    cutoff = now - timedelta(seconds=limit)
    count = 0
    for node in Node.objects.filter(status=NodeStatus.STREAMING, heartbeat_at__lt=cutoff):
        if requeue and _may_run_again(node) and _queue_again(node):
            count += 1
        elif interrupt(node):
            count += 1
    count += _sweep_queued(cutoff, now, requeue)
    return count


async def sweep_while_serving() -> None:
    """The embedded mode's sweeper, on the server's loop for as long as it serves: a run that died
    inside this process (its coroutine lost, its ending refused by the database) ends here, not only
    at the next start. A run can be started from here, so one that had streamed nothing runs again."""
    sweep = functools.partial(sweep_stale_runs, requeue=True)
    while True:
        await asyncio.sleep(settings.PRISM_SWEEP_INTERVAL_S)
        try:
            await in_db_thread(sweep)
        except Exception:  # the database may be away for now; the next sweep tries again
            log.exception("Sweeping stale runs failed")


def _may_run_again(node: Node) -> bool:
    if node.seq or node.attempts >= MAX_ATTEMPTS:
        return False
    live = _read_live(str(node.id))
    return live is None or not (live.seq or live.text or live.reasoning)


def _queue_again(node: Node) -> bool:
    # Conditional on the very claim we looked at: a run that is alive after all, or that another
    # sweeper queued first, is left alone.
    requeued = Node.objects.filter(id=node.id, status=NodeStatus.STREAMING, started_at=node.started_at, seq=0).update(
        status=NodeStatus.QUEUED, started_at=None, heartbeat_at=timezone.now()
    )
    if not requeued:
        return False
    log.warning("Response %s streamed nothing before its run died; queued again", node.id)
    start_runs([node.id])
    return True


def _sweep_queued(cutoff, now, requeue: bool) -> int:
    """Queued responses nobody has picked up: their task may be lost, so send another (a duplicate
    finds the node claimed and does nothing), or, where none can be sent or it is hopeless, end them."""
    waiting = Node.objects.alias(since=Coalesce("heartbeat_at", "created_at")).filter(
        status=NodeStatus.QUEUED, since__lt=cutoff
    )
    given_up = now - timedelta(seconds=QUEUED_GIVE_UP_S)
    count = 0
    for node in waiting:
        if requeue and node.created_at >= given_up:
            # The heartbeat of a queued node is when it was last sent, so it is sent at most this often.
            if Node.objects.filter(id=node.id, status=NodeStatus.QUEUED).update(heartbeat_at=now):
                start_runs([node.id])
                count += 1
        elif _end_queued(node):
            count += 1
    return count


def _end_queued(node: Node) -> bool:
    message = "The run never started (the server restarted or no worker took it)."
    ended = Node.objects.filter(id=node.id, status=NodeStatus.QUEUED).update(
        status=NodeStatus.INTERRUPTED, error_code="interrupted", error_message=message, finished_at=timezone.now()
    )
    if ended:
        node.refresh_from_db()
        log.warning("Response %s never started; interrupted", node.id)
        _announce(node)
    return bool(ended)


def interrupt(node: Node) -> bool:
    live = _read_live(str(node.id))
    fields = {
        "status": NodeStatus.INTERRUPTED,
        "error_code": "interrupted",
        "error_message": "The run stopped before the model finished (its worker went away).",
        "finished_at": timezone.now(),
    }
    if live is not None and live.seq > node.seq:
        fields.update(text=live.text, reasoning=live.reasoning, seq=live.seq)
    # Conditional, so a run that finishes meanwhile keeps its own ending.
    if not Node.objects.filter(id=node.id, status=NodeStatus.STREAMING).update(**fields):
        return False
    node.refresh_from_db()
    log.warning("Response %s interrupted at seq %s", node.id, node.seq)
    _announce(node)
    try:
        async_to_sync(live_store().clear)(str(node.id))
    except RedisError as exc:
        log.warning("Live state of %s not cleared (%s); it expires by itself", node.id, exc)
    return True


def _read_live(node_id: str):
    try:
        return live_store().read_sync(node_id)
    except RedisError as exc:
        # Without Redis the database's partial text (at most PRISM_PERSIST_MS old) is what there is.
        log.warning("Live state of %s not read (%s)", node_id, exc)
        return None


def _announce(node: Node) -> None:
    try:
        sender.send_from_thread(node.canvas_id, [events.NodeDone(type="node.done", node=node_payload(node))])
    except RedisError as exc:
        log.warning("End of %s not announced (%s)", node.id, exc)
