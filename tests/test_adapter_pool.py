"""engine.adapters: one provider adapter per account per loop, replaced when the account changes."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from engine import adapters
from engine.adapters import adapter_pool, close_adapters
from providers.base import AccountConfig

pytestmark = pytest.mark.asyncio

ACCOUNT = AccountConfig(kind="simulator", base_url="http://127.0.0.1:9/v1", api_key="first-key", account_id="acct-1")


async def closed(adapter) -> bool:
    """Whether the adapter's SDK client is closed, once its closing (a task) has had time to run."""
    for _ in range(100):
        if adapter._client.is_closed():
            return True
        await asyncio.sleep(0.01)
    return False


async def test_streams_of_one_account_share_its_adapter() -> None:
    pool = adapter_pool()
    async with pool.adapter(ACCOUNT) as first, pool.adapter(ACCOUNT) as second:
        assert second is first
    async with pool.adapter(dataclasses.replace(ACCOUNT, account_id="acct-2")) as other:
        assert other is not first
    async with pool.adapter(ACCOUNT) as later:
        assert later is first  # kept, with its connections, for the next stream
    assert not first._client.is_closed()
    await close_adapters()
    assert first._client.is_closed() and other._client.is_closed()


async def test_a_changed_account_gets_a_new_adapter_and_the_old_one_closes_after_its_last_stream() -> None:
    pool = adapter_pool()
    rotated = dataclasses.replace(ACCOUNT, api_key="second-key")
    async with pool.adapter(ACCOUNT) as old:
        async with pool.adapter(rotated) as new:
            assert new is not old
        assert not old._client.is_closed()  # a stream is still reading through it
    assert await closed(old)
    assert not new._client.is_closed()
    await close_adapters()


async def test_an_adapter_no_stream_uses_for_a_while_is_closed(monkeypatch) -> None:
    monkeypatch.setattr(adapters, "IDLE_S", 0.05)
    pool = adapter_pool()
    async with pool.adapter(ACCOUNT) as idle:
        pass
    assert await closed(idle)
    async with pool.adapter(ACCOUNT) as fresh:
        assert fresh is not idle
    await close_adapters()


async def test_closing_all_waits_for_the_streams_still_running() -> None:
    pool = adapter_pool()
    async with pool.adapter(ACCOUNT) as running:
        await close_adapters()
        assert not running._client.is_closed()
    assert await closed(running)
