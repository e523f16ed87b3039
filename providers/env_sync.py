"""Bring providers configured by the environment (and the built-in simulator) into the database.

The environment is the truth: an environment provider's key and URL are overwritten on every sync,
and one whose variables were removed is disabled. A server that lists its own models (vLLM, an
OpenAI-compatible OPENAI_BASE_URL: a gateway, Ollama, LM Studio) brings the models it lists; those are
listed again every PRISM_MODEL_SYNC_S (`sync_served_models`), so a server that starts after the app,
or starts serving another model, is picked up.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from providers import periodic
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
OPENAI_API_URL = "https://api.openai.com/v1"


def lists_its_models(kind: str, base_url: str) -> bool:
    """Whether the provider's models are the ones its server lists, not Prism's catalogue: a vLLM
    server, or OpenAI's protocol at another address than OpenAI's."""
    if kind == ProviderKind.VLLM:
        return True
    return kind == ProviderKind.OPENAI and base_url.rstrip("/") != OPENAI_API_URL


def _configured(kind: str, config: dict) -> bool:
    """A hosted provider is configured by its key; a server that lists its models by its URL alone
    (vLLM without --api-key, Ollama and LM Studio take any key)."""
    if kind == ProviderKind.VLLM:
        return bool(config["base_url"])
    return bool(config["api_key"]) or lists_its_models(kind, config["base_url"])


def sync_providers() -> list[ProviderAccount]:
    synced = []
    for kind, config in settings.PRISM_ENV_PROVIDERS.items():
        configured = _configured(kind, config)
        account = _sync_account(kind, config, configured)
        if account is not None and configured:
            synced.append(account)
            _sync_models(account)
    simulator_config = {"base_url": settings.PRISM_SIMULATOR_URL, "api_key": settings.PRISM_SIMULATOR_KEY}
    simulator = _sync_account("simulator", simulator_config, settings.PRISM_SIMULATOR)
    if simulator is not None and settings.PRISM_SIMULATOR:
        _sync_simulator_models(simulator)
        synced.append(simulator)
    return synced


def _sync_account(kind: str, config: dict, configured: bool) -> ProviderAccount | None:
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
    account.base_url = config["base_url"]
    account.enabled = True
    if config["api_key"] != account.api_key:
        account.set_api_key(config["api_key"])
    max_concurrency = config.get("max_concurrency")
    if max_concurrency is not None:  # unset, the admin panel's value (default 64) stands
        if max_concurrency < 0:
            raise ImproperlyConfigured(f"{kind.upper()}_MAX_CONCURRENCY must be 0 (no limit) or more.")
        account.max_concurrency = max_concurrency
    account.save()
    return account


def _sync_models(account: ProviderAccount) -> None:
    if lists_its_models(account.kind, account.base_url):
        import_listings(asyncio.run(list_served_models([account])))
        return
    for position, seed in enumerate(CATALOGUE.get(account.kind, ())):
        upsert_model(account, seed, position)


def served_model_accounts() -> list[ProviderAccount]:
    """The enabled environment providers whose models are the ones their server lists."""
    accounts = ProviderAccount.objects.filter(
        origin=ProviderAccount.Origin.ENV, enabled=True, kind__in=[ProviderKind.VLLM, ProviderKind.OPENAI]
    )
    return [account for account in accounts if lists_its_models(account.kind, account.base_url)]


async def list_served_models(accounts: list[ProviderAccount]) -> list[tuple[ProviderAccount, list[str]]]:
    """What each server lists, asked at once; a server that does not answer is left out (and logged)."""

    async def listing(account: ProviderAccount) -> list[str] | None:
        try:
            return await listed_models(account)
        except Exception as exc:  # noqa: BLE001 - a down server must not stop the app, or the others
            log.warning("%s at %s did not list its models: %s", account.name, account.base_url, exc)
            return None

    names = await asyncio.gather(*(listing(account) for account in accounts))
    return [(account, listed) for account, listed in zip(accounts, names, strict=True) if listed is not None]


def import_listings(listings: list[tuple[ProviderAccount, list[str]]]) -> int:
    """Add the listed models not known yet (a name in Prism's catalogue comes with its prices); how many
    were added."""
    added = 0
    for account, names in listings:
        known = set(account.models.values_list("name", flat=True))
        catalogue = {seed.name: seed for seed in CATALOGUE.get(account.kind, ())}
        for name in names:
            if name not in known:  # after the models already there
                upsert_model(account, catalogue.get(name, ModelSeed(name, name)), len(known))
                known.add(name)
                added += 1
    return added


def sync_served_models() -> int:
    """List the servers' models again and import the new ones (Celery beat, every PRISM_MODEL_SYNC_S)."""
    accounts = served_model_accounts()
    return import_listings(asyncio.run(list_served_models(accounts))) if accounts else 0


async def keep_served_models_synced(interval_s: float) -> None:
    """The embedded mode's `sync_served_models`, on the serving loop: the servers are asked there, and
    only the database work goes to Django's thread, so a slow server holds up no request."""

    async def sync() -> None:
        accounts = await database_sync_to_async(served_model_accounts)()
        if accounts:
            await database_sync_to_async(import_listings)(await list_served_models(accounts))

    await periodic.every(interval_s, sync, "The served models sync")


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


async def listed_models(account: ProviderAccount) -> list[str]:
    adapter = adapter_for(account.config())
    try:
        return await adapter.list_models()
    finally:
        await adapter.aclose()
