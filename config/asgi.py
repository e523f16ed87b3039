"""The ASGI entry point: HTTP (Django), WebSocket (Channels), and the built-in simulator."""

from __future__ import annotations

import asyncio
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup(set_prefix=False)  # before anything below imports a model

from config import log_redaction  # noqa: E402

log_redaction.install()  # uvicorn's loggers, configured before this module was imported

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from config.simulator_gate import SimulatorGate  # noqa: E402
from config.threaded_http import ThreadedDjango  # noqa: E402

# Each request whole on a thread of a pool, not hopping between loop and threads (config/threaded_http.py).
# Django's own handler ran each request on a thread made for it, which in the embedded mode opened and
# closed a SQLite connection every time. The in-memory channel layer lives on this loop: the embedded
# mode's requests send their events there.
django_http = ThreadedDjango(
    settings.PRISM_HTTP_THREADS, nice=settings.PRISM_HTTP_NICE, async_on_server_loop=settings.EMBEDDED
)

from channels.db import database_sync_to_async  # noqa: E402

from canvas.routing import websocket_urlpatterns  # noqa: E402
from canvas.trash import purge_deleted  # noqa: E402
from canvas.ws_auth import WebSocketAuth  # noqa: E402
from engine import loops  # noqa: E402
from engine.adapters import close_adapters  # noqa: E402
from engine.runtime import freeze_startup_heap  # noqa: E402
from engine.sweeper import sweep_while_serving  # noqa: E402
from providers.env_sync import keep_served_models_synced  # noqa: E402
from providers.periodic import every  # noqa: E402
from providers.registry import preload as preload_adapters  # noqa: E402
from providers.server_scrape import keep_servers_scraped  # noqa: E402
from providers.simulator.app import create_app as create_simulator  # noqa: E402
from providers.simulator.plan import Caps  # noqa: E402
from usage import rollups  # noqa: E402

preload_adapters()

router = ProtocolTypeRouter({"http": django_http, "websocket": WebSocketAuth(URLRouter(websocket_urlpatterns))})
SIMULATOR_PREFIX = "/simulator"
simulator = (
    SimulatorGate(create_simulator(prefix=SIMULATOR_PREFIX, caps=Caps()), SIMULATOR_PREFIX)
    if settings.PRISM_SIMULATOR
    else None
)


async def _lifespan(receive, send) -> None:
    periodic_jobs: list[asyncio.Future] = []
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if refusal := _refusal():
                # uvicorn stops every worker, and itself, on a failed startup instead of starting them again.
                await send({"type": "lifespan.startup.failed", "message": refusal})
                return
            loops.bind_server_loop(asyncio.get_running_loop())
            freeze_startup_heap()
            if settings.EMBEDDED:  # no Celery beat: this process runs the periodic jobs, and ends dead runs
                periodic_jobs = [asyncio.get_running_loop().create_task(sweep_while_serving()), *_start_periodic_jobs()]
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            for job in periodic_jobs:
                job.cancel()
            await close_adapters()  # the embedded mode's runs share the server loop's provider clients
            await send({"type": "lifespan.shutdown.complete"})
            return


def _refusal() -> str | None:
    """Why this process must not serve, if it must not: several embedded web processes would each hold
    their own channel layer, runs and periodic jobs, and a stream would reach only its own process's
    sockets."""
    if settings.EMBEDDED and settings.WEB_CONCURRENCY > 1:
        return (
            f"WEB_CONCURRENCY is {settings.WEB_CONCURRENCY}, but the embedded mode (REDIS_URL unset) runs in one "
            "web process: its channel layer, its runs and its periodic jobs live in that process. Unset "
            "WEB_CONCURRENCY (or set it to 1), or set REDIS_URL and DATABASE_URL to run several web processes."
        )
    return None


def _start_periodic_jobs() -> list[asyncio.Future]:
    jobs = []
    if settings.PRISM_MODEL_SYNC_S > 0:
        jobs.append(asyncio.ensure_future(keep_served_models_synced(settings.PRISM_MODEL_SYNC_S)))
    if settings.PRISM_SERVER_SCRAPE_S > 0:
        jobs.append(asyncio.ensure_future(keep_servers_scraped(settings.PRISM_SERVER_SCRAPE_S)))
    if settings.PRISM_PURGE_INTERVAL_S > 0:
        purge = database_sync_to_async(purge_deleted)
        jobs.append(asyncio.ensure_future(every(settings.PRISM_PURGE_INTERVAL_S, purge, "Purging deleted canvases")))
    if settings.PRISM_USAGE_ROLLUP_S > 0 and rollups.available():
        jobs.append(asyncio.ensure_future(rollups.keep_rolled_up(settings.PRISM_USAGE_ROLLUP_S)))
    return jobs


async def application(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    loops.bind_server_loop(asyncio.get_running_loop())
    if simulator is not None and scope["type"] == "http" and scope["path"].startswith(SIMULATOR_PREFIX + "/"):
        return await simulator(scope, receive, send)
    return await router(scope, receive, send)
