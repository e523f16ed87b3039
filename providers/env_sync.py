"""Bring providers configured by the environment (and the built-in simulator) into the database.

The environment is the truth: an environment provider's key and URL are overwritten on every sync,
and one whose variables were removed is disabled.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction

from providers.catalogue import CATALOGUE, ModelSeed
from providers.models import Model, Price, ProviderAccount, ProviderKind
from providers.registry import adapter_for

log = logging.getLogger(__name__)

ENV_ACCOUNT_NAMES = {
    "openai": "OpenAI",
    "deepseek": "DeepSeek",
    "vllm": "vLLM",
    "anthropic": "Anthropic",
    "gemini": "Google Gemini",
    "simulator": "Simulator",
}
# A vLLM server is configured by its URL alone; hosted providers by their key.
_REQUIRED = {"vllm": "base_url"}


def sync_providers() -> list[ProviderAccount]:
    synced = []
    for kind, config in settings.PRISM_ENV_PROVIDERS.items():
        configured = bool(config.get(_REQUIRED.get(kind, "api_key")))
        account = _sync_account(kind, config["base_url"], config["api_key"], configured)
        if account is not None and configured:
            synced.append(account)
            _sync_models(account)
    simulator = _sync_account(
        "simulator", settings.PRISM_SIMULATOR_URL, settings.PRISM_SIMULATOR_KEY, settings.PRISM_SIMULATOR
    )
    if simulator is not None and settings.PRISM_SIMULATOR:
        _sync_simulator_models(simulator)
        synced.append(simulator)
    return synced


def _sync_account(kind: str, base_url: str, api_key: str, configured: bool) -> ProviderAccount | None:
    name = ENV_ACCOUNT_NAMES[kind]
    account = ProviderAccount.objects.filter(kind=kind, origin=ProviderAccount.Origin.ENV).first()
    if not configured:
        if account is not None and account.enabled:
            account.enabled = False
            account.save(update_fields=["enabled"])
        return account
    if account is None:
        if ProviderAccount.objects.filter(name=name).exists():
            name = f"{name} (environment)"  # an admin already uses the plain name
        account = ProviderAccount(name=name, kind=kind, origin=ProviderAccount.Origin.ENV)
    account.base_url = base_url
    account.enabled = True
    if api_key != account.api_key:
        account.set_api_key(api_key)
    account.save()
    return account


def _sync_models(account: ProviderAccount) -> None:
    if account.kind == ProviderKind.VLLM:
        try:
            names = discover_models(account)
        except Exception as exc:  # noqa: BLE001 - a down server must not stop the app from starting
            log.warning("vLLM at %s did not list its models: %s", account.base_url, exc)
            return
        seeds = [ModelSeed(name, name) for name in names]
    else:
        seeds = list(CATALOGUE.get(account.kind, ()))
    for position, seed in enumerate(seeds):
        upsert_model(account, seed, position)


def _sync_simulator_models(account: ProviderAccount) -> None:
    from providers.simulator.catalogue import MODELS

    for position, sim in enumerate(MODELS):
        seed = ModelSeed(sim.id, f"{sim.display_name} (simulated)", reasoning=sim.reasoning)
        upsert_model(account, seed, position)


@transaction.atomic
def upsert_model(account: ProviderAccount, seed: ModelSeed, position: int = 0) -> Model:
    model, created = Model.objects.get_or_create(
        account=account,
        name=seed.name,
        defaults={
            "display_name": seed.display_name,
            "reasoning": seed.reasoning,
            "context_window": seed.context_window,
            "default_params": seed.default_params or {},
            "position": position,
        },
    )
    for price in seed.prices:
        effective = datetime.fromisoformat(price.effective_from).replace(tzinfo=UTC)
        Price.objects.get_or_create(
            model=model,
            effective_from=effective,
            defaults={
                "input": price.input,
                "cached_input": price.cached_input,
                "cache_write": price.cache_write,
                "output": price.output,
                "source": price.source,
            },
        )
    return model


def discover_models(account: ProviderAccount) -> list[str]:
    async def run() -> list[str]:
        adapter = adapter_for(account.config())
        try:
            return await adapter.list_models()
        finally:
            await adapter.aclose()

    return asyncio.run(run())
