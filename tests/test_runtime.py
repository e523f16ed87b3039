"""What a serving process does to its heap at start-up (engine/runtime.py)."""

from __future__ import annotations

import gc

from engine.runtime import freeze_startup_heap


def test_the_startup_heap_is_frozen_out_of_later_collections():
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        freeze_startup_heap()
        # Django, the SDKs and everything imported so far: far more than a collection should walk.
        assert gc.get_freeze_count() > 100_000
    finally:
        gc.unfreeze()
