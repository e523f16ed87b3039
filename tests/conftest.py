"""Shared personas and fixtures. The suite runs on the machine's PostgreSQL; the simulators run over
real HTTP. The pytest process itself uses the in-memory channel layer and the in-process runner; the
integration tests start real servers and workers in subprocesses for the Redis mode."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import Client

from tests.fakes.openai_compat import create_app
from tests.fakes.server import serve
from tests.stack import RedisServer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test has a node id of its own. schemathesis names each operation's item (`test[GET /api/…]`)
    but leaves it its test's node id, and `make test` hands files to pytest-xdist's processes, which
    keep one item per node id: 50 of the 51 operations would never run, and nothing would say so."""
    for item in items:
        label = getattr(item, "operation_label", None)  # a schemathesis item's
        if label and not item.nodeid.endswith("]"):
            item._id = item._id.with_params(label)  # pytest 9's structured id; pytest builds it no other way
    if repeated := [nodeid for nodeid, count in Counter(item.nodeid for item in items).items() if count > 1]:
        raise pytest.UsageError(f"Tests share a node id, so only one of each would run: {repeated[:5]}")


@pytest.fixture(scope="session", autouse=True)
def _close_connection_pools(django_db_setup):
    """The PostgreSQL pool keeps connections open; they must be gone before the test database is
    dropped at the end of the session."""
    yield
    for connection in connections.all():
        if getattr(connection, "pool", None) is not None:
            connection.close_pool()


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Real hashing costs half a second a user; these tests are not about hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(django_user_model):
    """Owns her personal team and its canvases."""
    return django_user_model.objects.create_user("alice", password="alice-password-1")


@pytest.fixture
def charlie(django_user_model):
    """An outsider: signed in, but in none of alice's teams."""
    return django_user_model.objects.create_user("charlie", password="charlie-password-1")


@pytest.fixture
def alice_team(alice):
    return alice.teams.get(personal=True)


@pytest.fixture
def alice_canvas(alice, alice_team):
    from canvas.models import Canvas

    return Canvas.objects.create(team=alice_team, title="Alice's canvas", created_by=alice)


@pytest.fixture
def alice_token(alice) -> str:
    from accounts.models import ApiToken

    return ApiToken.issue(alice)[1]


@pytest.fixture
def api(alice_token) -> Client:
    """Alice's API client, authenticated by her bearer token."""
    return Client(headers={"authorization": f"Bearer {alice_token}"})


@pytest_asyncio.fixture
async def close_runner_connections():
    """The runner's ORM work happens on asgiref's threads; close their connections so the test database
    can be dropped at the end of the session. And close the provider clients the test's runs shared."""
    yield
    from engine.adapters import close_adapters

    await close_adapters()
    await sync_to_async(connections.close_all)()


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory) -> Iterator[RedisServer]:
    """A redis-server of the module's own, which its tests may restart or flush."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def simulator_app():
    return create_app()


@pytest.fixture
def simulator(simulator_app):
    """The OpenAI-compatible simulator on a real local port: (app, base URL ending in /v1)."""
    with serve(simulator_app) as base_url:
        yield simulator_app, f"{base_url}/v1"


@pytest.fixture
def sim_account(simulator):
    from providers.models import ProviderAccount

    _, base_url = simulator
    return ProviderAccount.objects.create(
        name="Test simulator", kind="simulator", base_url=base_url, first_token_timeout_s=10, idle_timeout_s=10
    )


@pytest.fixture
def sim_models(sim_account):
    """Fast simulated models: swift (plain) and reasoner (reasoning first), plus a slower steady one."""
    from providers.models import Model

    fast = {"simulator": {"ttft_ms": 5, "tokens_per_s": 2000}}
    return {
        name: Model.objects.create(
            account=sim_account,
            name=name,
            display_name=name,
            default_params=fast,
            reasoning=name == "sim-reasoner",
            position=i,
        )
        for i, name in enumerate(("sim-swift", "sim-reasoner", "sim-steady"))
    }


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for a browser test module (Debian's, tests/browser.py); launched only for the
    modules that ask for it."""
    from tests.browser import chromium

    with chromium() as browser:
        yield browser


# The browser modules' pages: each module defines its own `stack` (a live app); these start signed in to it.


@pytest.fixture(scope="module")
def signed_in(browser, stack, tmp_path_factory) -> str:
    """The storage state of a browser signed in as the stack's user, so each page starts signed in."""
    from tests.browser import signed_in_state

    return signed_in_state(browser, stack, tmp_path_factory.mktemp("state"))


@pytest.fixture
def new_page(browser, signed_in):
    """new_page(width=1280, height=800, **context options) → a signed-in page in a context of its own."""
    from tests.browser import signed_in_pages

    with signed_in_pages(browser, signed_in) as make:
        yield make


@pytest.fixture
def page(new_page):
    return new_page()
