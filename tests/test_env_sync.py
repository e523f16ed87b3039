"""Providers configured by the environment: the environment is the truth, on every sync."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from providers.env_sync import sync_providers
from providers.models import Model, Price, ProviderAccount

pytestmark = pytest.mark.django_db

HOSTED = {
    "openai": "https://api.openai.com/v1",
    "deepseek": "https://api.deepseek.com",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}


def environment(**configured: dict) -> dict:
    """PRISM_ENV_PROVIDERS as settings builds it, with only the `configured` providers set."""
    providers = {kind: {"api_key": "", "base_url": url} for kind, url in HOSTED.items()}
    providers["vllm"] = {"api_key": "", "base_url": ""}
    for kind, values in configured.items():
        providers[kind] = {**providers[kind], **values}
    return providers


@pytest.fixture
def env(settings):
    """Set the environment's providers and sync them, as `make run` does at start-up."""
    settings.PRISM_SIMULATOR = False

    def sync(**configured: dict) -> list[ProviderAccount]:
        settings.PRISM_ENV_PROVIDERS = environment(**configured)
        return sync_providers()

    return sync


def usable_names() -> set[str]:
    return set(Model.objects.usable().values_list("name", flat=True))


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def price_tuple(price: Price | None) -> tuple[Decimal, Decimal, Decimal] | None:
    return None if price is None else (price.input, price.cached_input, price.output)


def test_no_keys_means_no_providers(env):
    assert env() == []
    assert not ProviderAccount.objects.exists()
    assert not Model.objects.exists()


def test_an_openai_key_brings_its_catalogue_models(env):
    (account,) = env(openai={"api_key": "sk-openai-env-key-1234"})

    assert account.name == "OpenAI"
    assert account.kind == "openai"
    assert account.origin == ProviderAccount.Origin.ENV
    assert account.base_url == "https://api.openai.com/v1"
    assert account.api_key == "sk-openai-env-key-1234"
    assert "gpt-5.5" in usable_names()
    assert all(m.prices.exists() for m in account.models.all())


def test_a_deepseek_key_brings_models_with_dated_prices(env):
    (account,) = env(deepseek={"api_key": "sk-deepseek-env-key-1234"})

    assert account.kind == "deepseek"
    assert account.base_url == "https://api.deepseek.com"
    assert {"deepseek-chat", "deepseek-reasoner"} <= usable_names()
    chat = account.models.get(name="deepseek-chat")
    assert chat.prices.count() >= 2
    assert price_tuple(chat.price_at(at("2026-01-01"))) == (Decimal("0.28"), Decimal("0.028"), Decimal("0.42"))
    assert price_tuple(chat.price_at(at("2026-06-01"))) == (Decimal("0.14"), Decimal("0.0028"), Decimal("0.28"))
    assert chat.price_at(at("2025-01-01")) is None


def test_a_base_url_in_the_environment_points_a_provider_at_a_gateway(env):
    # DeepSeek keeps its catalogue behind a gateway (OpenAI's protocol elsewhere lists its models: below).
    (account,) = env(deepseek={"api_key": "sk-deepseek-env-key-1234", "base_url": "https://gateway.example"})

    assert account.base_url == "https://gateway.example"
    assert "deepseek-chat" in usable_names()


def test_syncing_again_adds_nothing_twice(env):
    env(deepseek={"api_key": "sk-deepseek-env-key-1234"})
    models, prices = Model.objects.count(), Price.objects.count()

    env(deepseek={"api_key": "sk-deepseek-env-key-1234"})

    assert (ProviderAccount.objects.count(), Model.objects.count(), Price.objects.count()) == (1, models, prices)


def test_a_changed_key_replaces_the_stored_one(env):
    env(openai={"api_key": "sk-old-key-000000000"})

    (account,) = env(openai={"api_key": "sk-new-key-111111111"})

    assert ProviderAccount.objects.get(pk=account.pk).api_key == "sk-new-key-111111111"


def test_removing_a_key_disables_the_provider(env):
    env(openai={"api_key": "sk-openai-env-key-1234"}, deepseek={"api_key": "sk-deepseek-env-key-1234"})
    account = ProviderAccount.objects.get(name="OpenAI")

    env(deepseek={"api_key": "sk-deepseek-env-key-1234"})

    account.refresh_from_db()
    assert not account.enabled
    assert not usable_names() & {"gpt-5.5", "gpt-5.4-mini"}
    assert "deepseek-chat" in usable_names()


def test_putting_a_key_back_enables_the_provider_again(env):
    env(openai={"api_key": "sk-openai-env-key-1234"})
    env()

    (account,) = env(openai={"api_key": "sk-openai-env-key-1234"})

    assert account.enabled
    assert ProviderAccount.objects.count() == 1
    assert "gpt-5.5" in usable_names()


def test_a_vllm_url_imports_the_models_the_server_serves(env, simulator):
    _, base_url = simulator

    (account,) = env(vllm={"base_url": base_url})

    assert account.kind == "vllm"
    assert account.base_url == base_url
    assert account.api_key == ""
    assert set(account.models.values_list("name", flat=True)) == {"sim-swift", "sim-steady", "sim-reasoner"}
    assert usable_names() == {"sim-swift", "sim-steady", "sim-reasoner"}


def test_a_vllm_server_that_is_down_does_not_stop_the_sync(env):
    env(vllm={"base_url": "http://127.0.0.1:9/v1"}, deepseek={"api_key": "sk-deepseek-env-key-1234"})

    assert ProviderAccount.objects.get(name="vLLM").enabled
    assert not Model.objects.filter(account__kind="vllm").exists()
    assert "deepseek-chat" in usable_names()


def test_the_simulator_brings_three_simulated_models(env, settings):
    settings.PRISM_SIMULATOR = True

    (account,) = env()

    assert account.kind == "simulator"
    assert account.base_url == settings.PRISM_SIMULATOR_URL
    models = list(account.models.order_by("position"))
    assert {m.name for m in models} == {"sim-swift", "sim-steady", "sim-reasoner"}
    assert all(m.display_name.endswith("(simulated)") for m in models)
    assert [m.name for m in models if m.reasoning] == ["sim-reasoner"]
    assert all(m.simulated for m in models)


def test_turning_the_simulator_off_disables_it(env, settings):
    settings.PRISM_SIMULATOR = True
    env()
    settings.PRISM_SIMULATOR = False

    assert env() == []

    assert not ProviderAccount.objects.get(kind="simulator").enabled
    assert usable_names() == set()


def test_the_command_reports_what_it_synced(settings):
    settings.PRISM_SIMULATOR = True
    settings.PRISM_ENV_PROVIDERS = environment(deepseek={"api_key": "sk-deepseek-env-key-1234"})
    out = StringIO()

    call_command("sync_providers", stdout=out)

    assert "DeepSeek:" in out.getvalue()
    assert "Simulator: 3 model(s)" in out.getvalue()


# --- servers that list their own models: OPENAI_BASE_URL elsewhere, and a server that comes up late ---


class LateServer:
    """The simulator behind a switch: 503 to everything until `up`, as a vLLM server still loading."""

    def __init__(self, app) -> None:
        self.app = app
        self.up = False

    async def __call__(self, scope, receive, send) -> None:
        if self.up:
            return await self.app(scope, receive, send)
        await send({"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"loading"})


@pytest.fixture
def late_server(simulator_app):
    from tests.fakes.server import serve

    server = LateServer(simulator_app)
    with serve(server) as base_url:
        yield server, f"{base_url}/v1"


def test_an_openai_base_url_elsewhere_brings_the_models_that_endpoint_lists(env, simulator):
    """A gateway, Ollama or LM Studio at OPENAI_BASE_URL: its models, not OpenAI's catalogue, and no key
    needed (a local server takes any)."""
    _, base_url = simulator

    (account,) = env(openai={"base_url": base_url})

    assert account.kind == "openai" and account.base_url == base_url and account.api_key == ""
    assert usable_names() == {"sim-swift", "sim-steady", "sim-reasoner"}


def test_a_listed_model_that_prism_knows_comes_with_its_prices(simulator):
    from providers.env_sync import import_listings

    account = ProviderAccount.objects.create(name="Gateway", kind="openai", base_url=simulator[1])

    assert import_listings([(account, ["gpt-5.5", "llama3.2:latest"])]) == 2

    assert account.models.get(name="gpt-5.5").prices.exists()
    assert not account.models.get(name="llama3.2:latest").prices.exists()


def test_openai_itself_keeps_its_catalogue(env):
    env(openai={"api_key": "sk-openai-env-key-1234", "base_url": "https://api.openai.com/v1/"})

    assert "gpt-5.5" in usable_names()


def test_a_provider_concurrency_limit_comes_from_the_environment_when_it_is_set(env, simulator):
    _, base_url = simulator
    (account,) = env(vllm={"base_url": base_url, "max_concurrency": 3})
    assert account.max_concurrency == 3

    ProviderAccount.objects.filter(pk=account.pk).update(max_concurrency=9)  # set in the admin panel
    env(vllm={"base_url": base_url, "max_concurrency": None})

    assert ProviderAccount.objects.get(pk=account.pk).max_concurrency == 9


def test_a_negative_concurrency_limit_is_refused(env, simulator):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="VLLM_MAX_CONCURRENCY"):
        env(vllm={"base_url": simulator[1], "max_concurrency": -1})


def test_a_vllm_server_that_comes_up_after_the_app_gets_its_models_from_celery_beat(env, late_server, settings):
    server, base_url = late_server
    env(vllm={"base_url": base_url})
    assert usable_names() == set()  # still loading when the app started

    server.up = True
    from config.celery import app

    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        app.tasks[entry["task"]]()  # what beat has the worker run

    assert usable_names() == {"sim-swift", "sim-steady", "sim-reasoner"}
    assert ProviderAccount.objects.get(kind="vllm").models.count() == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.usefixtures("close_runner_connections")
async def test_the_embedded_mode_syncs_the_served_models_while_it_serves(env, late_server):
    import asyncio

    from asgiref.sync import sync_to_async

    from providers.env_sync import keep_served_models_synced

    server, base_url = late_server
    await sync_to_async(env)(vllm={"base_url": base_url})
    syncing = asyncio.ensure_future(keep_served_models_synced(0.05))
    try:
        server.up = True
        async with asyncio.timeout(10):
            while await sync_to_async(usable_names)() != {"sim-swift", "sim-steady", "sim-reasoner"}:
                await asyncio.sleep(0.05)
    finally:
        syncing.cancel()
