"""What the engine tells the rest of Prism, without importing it: other apps connect receivers here."""

from __future__ import annotations

import logging

from django.dispatch import Signal

log = logging.getLogger(__name__)

# Responses' runs have ended and their endings are committed: `runs`, each a (node id (str), the node's
# final status), the runs stored together in one batch (engine.store.finish_many), so that a receiver
# can read about all of them at once. Sent on the thread that stored them, off the event loop. A
# receiver's fault is logged and never touches the runs.
runs_ended = Signal()


def send_runs_ended(runs: list[tuple[str, str]]) -> None:
    for receiver, result in runs_ended.send_robust(sender=None, runs=runs):
        if isinstance(result, Exception):
            ids = [node_id for node_id, _ in runs]
            log.error("A receiver of runs_ended (%s) failed for %s", receiver, ids, exc_info=result)
