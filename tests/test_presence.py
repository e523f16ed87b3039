"""Presence stores: one socket leaving takes away its own entry, never anyone else's."""

from __future__ import annotations

import pytest

from canvas.presence import MemoryPresence, RedisPresence, people
from engine.redis_clients import loop_client
from tests.stack import _redis_database

pytestmark = pytest.mark.asyncio

ALICE = {"user": 1, "name": "alice"}
BOB = {"user": 2, "name": "bob"}


async def _one_tab_leaves(store) -> None:
    await store.join("canvas-1", "alice-tab-1", ALICE)
    await store.join("canvas-1", "alice-tab-2", ALICE)
    await store.join("canvas-1", "bob-tab", BOB)
    await store.join("canvas-2", "bob-elsewhere", BOB)

    await store.leave("canvas-1", "alice-tab-2")

    assert sorted(e["name"] for e in await store.entries("canvas-1")) == ["alice", "bob"]
    assert [e["name"] for e in await store.entries("canvas-2")] == ["bob"]

    await store.leave("canvas-1", "alice-tab-1")
    assert people(await store.entries("canvas-1")) == [{"name": "bob", "guest": False}]


async def test_one_tab_leaving_keeps_everyone_else_in_memory():
    await _one_tab_leaves(MemoryPresence())


async def test_one_tab_leaving_keeps_everyone_else_in_redis():
    with _redis_database() as url:
        try:
            await _one_tab_leaves(RedisPresence(url))
        finally:
            await loop_client(url).aclose()
