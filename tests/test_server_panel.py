"""The self-hosted server, live: each vLLM server's /health and /metrics read into samples on a schedule,
rates from counter differences (restarts included), old samples deleted, the staff page's panels, and a
server that is down marked on the models list before anyone sends it a prompt."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from html import unescape as html_unescape

import pytest
from django.test import Client
from django.utils import timezone

from providers import server_series
from providers.models import Model, ProviderAccount, ServerSample
from providers.server_scrape import scrape_servers
from tests.fakes.server import serve
from tests.fakes.vllm import create_app

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - timedelta(minutes=30)


@pytest.fixture
def vllm_app():
    return create_app()


@pytest.fixture
def vllm(vllm_app):
    """A vLLM server on a real port, and its provider account: (app, account)."""
    with serve(vllm_app) as base_url:
        account = ProviderAccount.objects.create(name="GPU box", kind="vllm", base_url=f"{base_url}/v1")
        yield vllm_app, account


@pytest.fixture
def staff(django_user_model) -> Client:
    user = django_user_model.objects.create_user("olga", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


def samples(account) -> list[ServerSample]:
    return list(ServerSample.objects.filter(account=account).order_by("at"))


def test_a_scrape_reads_every_figure_of_each_vllm_server(vllm):
    app, account = vllm
    app.set(running=3, waiting=2, kv_cache_usage=0.25, prefix_queries=1000, prefix_hits=400)
    app.set(generation_tokens=5000, prompt_tokens=9000)

    assert scrape_servers(at=T0) == 1

    (sample,) = samples(account)
    assert sample.healthy and sample.error == "" and sample.at == T0
    assert (sample.running, sample.waiting, sample.kv_cache_use) == (3, 2, 0.25)
    assert (sample.prefix_cache_queries, sample.prefix_cache_hits) == (1000, 400)
    assert (sample.generation_tokens, sample.prompt_tokens) == (5000, 9000)


def test_the_older_metric_names_are_read_too():
    app = create_app(legacy_metrics=True)
    app.set(kv_cache_usage=0.5, prefix_queries=10, prefix_hits=5)
    with serve(app) as base_url:
        account = ProviderAccount.objects.create(name="Old vLLM", kind="vllm", base_url=f"{base_url}/v1")
        scrape_servers(at=T0)
    (sample,) = samples(account)
    assert (sample.kv_cache_use, sample.prefix_cache_queries, sample.prefix_cache_hits) == (0.5, 10, 5)


def test_throughput_and_hit_rate_come_from_counter_differences_and_a_restart_counts_from_zero(vllm):
    app, account = vllm
    app.set(generation_tokens=1000, prompt_tokens=3000, prefix_queries=2000, prefix_hits=500)
    scrape_servers(at=T0)
    app.set(generation_tokens=1600, prompt_tokens=4200, prefix_queries=3000, prefix_hits=1250)
    scrape_servers(at=T0 + timedelta(seconds=60))

    panel = server_series.panel(account, 1, now=T0 + timedelta(seconds=61))
    assert panel.state == "up"
    assert panel.figures["gen"] == 10.0  # 600 tokens in 60 s
    assert panel.figures["prompt"] == 20.0
    assert panel.figures["hit"] == 75.0  # 750 hits of 1000 queried tokens

    app.restart()
    app.set(generation_tokens=300, prompt_tokens=600, prefix_queries=600, prefix_hits=150)
    scrape_servers(at=T0 + timedelta(seconds=90))

    panel = server_series.panel(account, 1, now=T0 + timedelta(seconds=91))
    assert panel.figures["gen"] == 10.0  # 300 tokens since the restart, in 30 s; never negative
    assert panel.figures["prompt"] == 20.0
    assert panel.figures["hit"] == 25.0
    assert panel.series["gen"] == [None, 10.0, 10.0]
    assert panel.series["hit"] == [None, 75.0, 25.0]
    assert server_series.panel(account, 1, now=T0 + timedelta(minutes=10)).state == "stale"  # not read since


def test_a_server_that_fails_its_health_check_and_then_stops_answering_is_down(vllm_app):
    with serve(vllm_app) as base_url:
        account = ProviderAccount.objects.create(name="GPU box", kind="vllm", base_url=f"{base_url}/v1")
        vllm_app.set(running=1)
        vllm_app.health_status = 503
        scrape_servers(at=T0)
    scrape_servers(at=T0 + timedelta(seconds=15))  # the server has gone

    unhealthy, unreachable = samples(account)
    assert not unhealthy.healthy and unhealthy.error == "Health check answered HTTP 503"
    assert unhealthy.running == 1  # its figures were still read
    assert not unreachable.healthy and unreachable.error.startswith("Unreachable (Connect")
    assert unreachable.running is None and unreachable.generation_tokens is None
    assert base_url not in unreachable.error
    panel = server_series.panel(account, 1, now=T0 + timedelta(seconds=16))
    assert panel.state == "down" and panel.reason.startswith("Unreachable (Connect")
    assert panel.figures == {}
    assert panel.series["running"] == [None, None]


def test_samples_past_the_retention_limit_are_deleted_by_the_scraper(vllm, settings):
    settings.PRISM_SERVER_SAMPLES_HOURS = 2
    _, account = vllm
    now = timezone.now()
    ServerSample.objects.create(account=account, at=now - timedelta(hours=2, minutes=1), healthy=True)
    kept = ServerSample.objects.create(account=account, at=now - timedelta(hours=1, minutes=59), healthy=True)

    scrape_servers(at=now)

    assert [s.at for s in samples(account)] == [kept.at, now]


def test_only_enabled_vllm_accounts_are_read(vllm):
    _, account = vllm
    ProviderAccount.objects.create(name="Off", kind="vllm", base_url=account.base_url, enabled=False)
    ProviderAccount.objects.create(name="Hosted", kind="openai", base_url=account.base_url)

    assert scrape_servers(at=T0) == 1
    assert ServerSample.objects.count() == 1


def test_a_long_window_is_drawn_in_at_most_max_points_with_exact_rates():
    """A day of samples every 15 s: one point per bucket, each rate the average over its bucket."""
    start = T0 - timedelta(hours=24)
    rows, generated = [], 0
    for i in range(1, 24 * 240 + 1):
        generated += 10 * (i % 7)
        rows.append(reading(start + timedelta(seconds=15 * i), generation_tokens=generated, running=i % 5))

    series = server_series.chart_series(rows, start, T0)

    assert len(series["t"]) == server_series.MAX_POINTS
    # Buckets of 240 s: each point is the bucket's last sample (the first at 225 s, the last the newest).
    assert series["t"][0] == round((start + timedelta(seconds=225)).timestamp(), 3)
    assert series["t"][-1] == round(rows[-1].at.timestamp(), 3)
    # Each point is the last sample of its bucket; its rate counts every token since the point before.
    by_time = {round(r.at.timestamp(), 3): r for r in rows}
    for index in (1, 100, 359):
        before, after = by_time[series["t"][index - 1]], by_time[series["t"][index]]
        expected = (after.generation_tokens - before.generation_tokens) / (after.at - before.at).total_seconds()
        assert series["gen"][index] == round(expected, 2)
        assert series["running"][index] == after.running


def reading(at, **figures) -> server_series.Reading:
    empty = dict.fromkeys(server_series.Reading._fields)
    return server_series.Reading(**empty | {"at": at, "healthy": True, "error": ""} | figures)


def test_the_models_api_marks_a_down_servers_models_unavailable_until_the_sample_is_stale(vllm_app, api):
    with serve(vllm_app) as base_url:
        account = ProviderAccount.objects.create(name="GPU box", kind="vllm", base_url=f"{base_url}/v1")
        model = Model.objects.create(account=account, name="deepseek-r1", display_name="DeepSeek R1 (ours)")
        scrape_servers()
        assert listed(api, model)["available"] is True
    scrape_servers()  # gone

    shown = listed(api, model)
    assert shown["available"] is False
    assert "Unreachable (Connect" in shown["unavailable_reason"]
    assert base_url not in shown["unavailable_reason"]

    ServerSample.objects.update(at=timezone.now() - server_series.stale_after() - timedelta(seconds=1))
    assert listed(api, model)["available"] is True  # nothing known of it now


def listed(api, model) -> dict:
    response = api.get("/api/models")
    assert response.status_code == 200
    return next(m for m in response.json() if m["id"] == str(model.id))


def test_the_canvas_composer_marks_a_model_whose_server_is_down(vllm_app, alice, alice_canvas):
    with serve(vllm_app) as base_url:
        account = ProviderAccount.objects.create(name="GPU box", kind="vllm", base_url=f"{base_url}/v1")
        model = Model.objects.create(account=account, name="deepseek-r1", display_name="DeepSeek R1 (ours)")
    scrape_servers()
    client = Client()
    client.force_login(alice)

    html = client.get(f"/canvases/{alice_canvas.id}/").content.decode()

    choice = html[html.index(f'data-model="{model.id}"') :].split("</div>")[0]
    assert "data-unavailable=" in choice and "Unreachable (Connect" in choice
    badge = choice[choice.index('class="badge server-down"') :].split(">")[0]
    assert "hidden" not in badge


def test_the_server_page_shows_each_panel_and_answers_htmx_with_the_panels_alone(vllm, staff):
    app, _ = vllm
    app.set(running=4, waiting=1, kv_cache_usage=0.5)
    scrape_servers()

    page = staff.get("/servers/")
    partial = staff.get("/servers/?hours=1", headers={"HX-Request": "true"})

    assert page.status_code == partial.status_code == 200
    html = page.content.decode()
    assert "<html" in html and "GPU box" in html and "Healthy" in html
    assert 'data-field="running">4<' in html and 'data-field="kv">50.0<' in html
    fragment = partial.content.decode()
    assert "<html" not in fragment and fragment.lstrip().startswith('<div class="server-panels"')
    assert 'hx-trigger="every 15s"' in fragment and "/servers/?hours=1" in fragment
    series = json.loads(html_unescape(fragment.split('data-series="')[1].split('"')[0]))
    assert series["running"] == [4.0]


def test_the_panel_says_a_server_is_unreachable(vllm_app, staff):
    with serve(vllm_app) as base_url:
        ProviderAccount.objects.create(name="GPU box", kind="vllm", base_url=f"{base_url}/v1")
    scrape_servers()

    html = staff.get("/servers/").content.decode()

    assert "Down" in html and "Unreachable (Connect" in html


def test_the_server_page_is_not_found_for_anyone_but_staff(alice, vllm):
    client = Client()
    assert client.get("/servers/").status_code == 302  # to sign in
    client.force_login(alice)
    assert client.get("/servers/").status_code == 404
    assert client.get("/servers/", headers={"HX-Request": "true"}).status_code == 404
    assert b"Servers" not in client.get("/").content  # no link in the nav either


def test_celery_beat_reads_the_servers(vllm, settings):
    from config.celery import app

    _, account = vllm
    app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE["scrape-servers"]
    assert entry["schedule"] == settings.PRISM_SERVER_SCRAPE_S

    app.tasks[entry["task"]]()

    assert len(samples(account)) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_embedded_server_reads_the_servers_while_it_serves(vllm):
    from asgiref.sync import sync_to_async
    from django.db import connections

    from providers.server_scrape import keep_servers_scraped

    app, account = vllm
    scraping = asyncio.ensure_future(keep_servers_scraped(0.05))
    try:
        async with asyncio.timeout(10):
            while await sync_to_async(ServerSample.objects.filter(account=account).count)() < 2:
                await asyncio.sleep(0.05)
    finally:
        scraping.cancel()
    assert app.metrics_reads >= 2
    await sync_to_async(connections.close_all)()
