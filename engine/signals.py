"""What the engine tells the rest of Prism, without importing it: other apps connect receivers here."""

from __future__ import annotations

import logging

from django.dispatch import Signal

log = logging.getLogger(__name__)

# A response's run has ended and its ending is committed: `node_id` (str) and `status` (the node's
# final status). Sent on the thread that stored it, off the event loop. A receiver's fault is logged
# and never touches the run.
run_ended = Signal()


def send_run_ended(node_id: str, status: str) -> None:
    for receiver, result in run_ended.send_robust(sender=None, node_id=node_id, status=status):
        if isinstance(result, Exception):
            log.error("A receiver of run_ended (%s) failed for %s", receiver, node_id, exc_info=result)
