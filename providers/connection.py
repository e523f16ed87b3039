"""Checks and imports that the admin runs against a provider account (synchronous callers)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from providers import vllm
from providers.base import ProviderError
from providers.env_sync import import_listings, listed_models
from providers.models import ProviderAccount, ProviderKind


@dataclass(frozen=True)
class ConnectionReport:
    ok: bool
    models: list[str]
    message: str


def check_connection(account: ProviderAccount) -> ConnectionReport:
    try:
        names = asyncio.run(listed_models(account))
    except ProviderError as exc:
        return ConnectionReport(False, [], f"{account.name}: {exc.code} — {exc.message}")
    detail = ""
    if account.kind == ProviderKind.VLLM:
        detail = " " + vllm_summary(account.base_url)
    return ConnectionReport(True, names, f"{account.name}: reachable, {len(names)} model(s).{detail}")


def vllm_summary(base_url: str) -> str:
    async def sample():
        return await vllm.health(base_url), await vllm.metrics(base_url)

    try:
        healthy, m = asyncio.run(sample())
    except Exception as exc:  # noqa: BLE001 - a status line must not break the admin page
        return f"Metrics unavailable ({type(exc).__name__})."
    rate = m.prefix_cache_hit_rate
    return (
        f"Health {'ok' if healthy else 'failing'}; running {m.requests_running:g}, waiting {m.requests_waiting:g}; "
        f"KV cache {100 * (m.kv_cache_usage or 0):.0f}%; "
        f"prefix-cache hit rate {'n/a' if rate is None else f'{100 * rate:.0f}%'}."
    )


def import_models(account: ProviderAccount) -> int:
    """Add the models the provider lists that are not known yet; returns how many were added."""
    return import_listings([(account, asyncio.run(listed_models(account)))])
