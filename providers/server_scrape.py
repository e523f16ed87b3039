"""Read every vLLM server's /health and /metrics into the database, every PRISM_SERVER_SCRAPE_S (Celery
beat, or the embedded server's loop), and delete the samples older than PRISM_SERVER_SAMPLES_HOURS.

Nothing secret is sent or kept: vLLM serves /health and /metrics without its API key, and a failure is
recorded by its kind (an exception's class, an HTTP status), never by a message that could hold the URL.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx2
from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from providers import periodic, vllm
from providers.http import make_client
from providers.models import ProviderAccount, ProviderKind, ServerSample

# A server that takes longer than this to send its figures is recorded as not answering.
READ_TIMEOUT_S = 5.0


def scraped_accounts() -> list[ProviderAccount]:
    """The enabled vLLM accounts, from the environment or the admin panel."""
    return list(ProviderAccount.objects.filter(kind=ProviderKind.VLLM, enabled=True).exclude(base_url=""))


async def read_servers(accounts: list[ProviderAccount], at: datetime | None = None) -> list[ServerSample]:
    """One sample per account, the servers asked at once; the samples are not saved yet."""
    at = at or timezone.now()
    async with make_client(read_timeout_s=READ_TIMEOUT_S) as client:
        return list(await asyncio.gather(*(read_server(account, client, at) for account in accounts)))


async def read_server(account: ProviderAccount, client: httpx2.AsyncClient, at: datetime) -> ServerSample:
    root = vllm.server_root(account.base_url)
    health, metrics = await asyncio.gather(
        client.get(f"{root}/health"), client.get(f"{root}/metrics"), return_exceptions=True
    )
    sample = ServerSample(account=account, at=at, healthy=False)
    if isinstance(health, BaseException) and isinstance(metrics, BaseException):
        sample.error = f"Unreachable ({type(health).__name__})"
        return sample
    if isinstance(metrics, httpx2.Response) and metrics.status_code == 200:
        figures = vllm.parse_metrics(metrics.text)
        sample.running = figures.requests_running
        sample.waiting = figures.requests_waiting
        sample.kv_cache_use = figures.kv_cache_usage
        sample.prefix_cache_queries = figures.prefix_cache_queries
        sample.prefix_cache_hits = figures.prefix_cache_hits
        sample.generation_tokens = figures.generation_tokens
        sample.prompt_tokens = figures.prompt_tokens
    if isinstance(health, BaseException):
        sample.error = f"Health check failed ({type(health).__name__})"
    elif health.status_code != 200:
        sample.error = f"Health check answered HTTP {health.status_code}"
    else:
        sample.healthy = True
        if isinstance(metrics, BaseException):
            sample.error = f"Metrics unreadable ({type(metrics).__name__})"
        elif metrics.status_code != 200:
            sample.error = f"Metrics answered HTTP {metrics.status_code}"
    return sample


def store_samples(samples: list[ServerSample], now: datetime | None = None) -> None:
    """Save the new samples and delete those past the retention limit."""
    ServerSample.objects.bulk_create(samples)
    cutoff = (now or timezone.now()) - timedelta(hours=settings.PRISM_SERVER_SAMPLES_HOURS)
    ServerSample.objects.filter(at__lt=cutoff).delete()


def scrape_servers(at: datetime | None = None) -> int:
    """One round (Celery beat, every PRISM_SERVER_SCRAPE_S): how many servers were read."""
    accounts = scraped_accounts()
    samples = asyncio.run(read_servers(accounts, at)) if accounts else []
    store_samples(samples, at)
    return len(samples)


async def keep_servers_scraped(interval_s: float) -> None:
    """The embedded mode's `scrape_servers`, on the serving loop: the servers are asked there, and only
    the database work goes to Django's thread, so a slow server holds up no request."""

    async def scrape() -> None:
        accounts = await database_sync_to_async(scraped_accounts)()
        samples = await read_servers(accounts) if accounts else []
        await database_sync_to_async(store_samples)(samples)

    await periodic.every(interval_s, scrape, "Reading the vLLM servers' metrics", at_once=True)
