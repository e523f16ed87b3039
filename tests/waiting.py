"""Waiting, in a test, for what another thread or process does."""

from __future__ import annotations

import asyncio


async def until(condition, timeout: float = 5.0) -> None:
    """Return once `condition()` is true; fail if it never is within `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.01)
