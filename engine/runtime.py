"""Garbage collection for the long-running processes that hold the streams.

A full collection walks every object a process holds: Django, the SDKs, the URL conf, the models,
well over a million objects. On this project's machine one took 190-350 ms in the worker and the web
process under load, and for that long the event loop relayed nothing: those pauses were the p99 of
the inter-token gap and of the time to first token. What a process has allocated by the time it
starts serving lives as long as the process, so it is frozen out of the collector's sight: later
collections walk only what the streams allocate since.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Call once a process has imported and set up everything, before it serves."""
    gc.collect()
    gc.freeze()
