"""The built-in simulator this app serves under /simulator/ cannot be used by just anyone: it answers the
app itself, API token holders and signed-in browsers; it bounds what one request may ask for; and it is
off in production unless switched on."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken
from config.simulator_gate import SimulatorGate
from providers.env_sync import sync_providers
from providers.simulator import catalogue
from providers.simulator.app import create_app
from providers.simulator.plan import Caps, build_plan, parse_fault
from tests.fakes.server import serve
from tests.stack import PYTHON, ROOT

pytestmark = pytest.mark.django_db(transaction=True)  # the gate reads tokens and sessions on its own threads

CHAT = {"model": "sim-swift", "messages": [{"role": "user", "content": "Hi"}], "simulator": {"ttft_ms": 0}}


@pytest.fixture
def gated() -> Iterator[str]:
    """The simulator as config/asgi.py mounts it, on a real port: its base URL, ending in /simulator."""
    with serve(SimulatorGate(create_app(prefix="/simulator", caps=Caps()), "/simulator")) as base_url:
        yield base_url + "/simulator"


def chat(base_url: str, body: dict | None = None, **headers: str) -> httpx.Response:
    return httpx.post(f"{base_url}/v1/chat/completions", json=body or CHAT, headers=headers, timeout=30)


def test_anyone_else_gets_401_before_the_body_is_read(gated):
    huge = {**CHAT, "simulator": {"length": 2_000_000, "tokens_per_s": 0}}

    refused = [
        chat(gated, huge),
        chat(gated, huge, authorization="Bearer prism_not-a-token"),
        chat(gated, huge, cookie=f"{settings.SESSION_COOKIE_NAME}=no-such-session"),
        httpx.get(f"{gated}/v1/models"),
        httpx.get(f"{gated}/metrics"),
    ]

    assert [r.status_code for r in refused] == [401] * 5
    assert refused[0].json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(f"{gated}/health").status_code == 200


def test_the_app_a_token_holder_and_a_signed_in_browser_get_answers(gated, alice):
    _, token = ApiToken.issue(alice)
    browser = Client()
    browser.force_login(alice)
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value

    answers = [
        chat(gated, authorization=f"Bearer {settings.PRISM_SIMULATOR_KEY}"),
        chat(gated, authorization=f"Bearer {token}"),
        chat(gated, cookie=f"{settings.SESSION_COOKIE_NAME}={session}"),
    ]

    assert [r.status_code for r in answers] == [200] * 3
    assert all(r.json()["choices"][0]["message"]["content"] for r in answers)


def test_a_revoked_token_and_a_signed_out_session_are_refused(gated, alice):
    record, token = ApiToken.issue(alice)
    record.revoked_at = timezone.now()
    record.save()
    browser = Client()
    browser.force_login(alice)
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    browser.post("/accounts/logout/")

    assert chat(gated, authorization=f"Bearer {token}").status_code == 401
    assert chat(gated, cookie=f"{settings.SESSION_COOKIE_NAME}={session}").status_code == 401


def test_lengths_waits_and_paces_are_bounded(gated):
    body = {**CHAT, "simulator": {"length": 2_000_000, "tokens_per_s": 0}}

    usage = chat(gated, body, authorization=f"Bearer {settings.PRISM_SIMULATOR_KEY}").json()["usage"]

    caps = Caps()
    assert usage["completion_tokens"] == caps.max_tokens
    model = catalogue.get("sim-reasoner")
    asked = {"length": 10**9, "reasoning_length": 10**9, "ttft_ms": 10**9, "tokens_per_s": 1e-9}
    plan = build_plan({**CHAT, "model": model.id, "simulator": asked}, model, None, caps)
    assert len(plan.content) == len(plan.reasoning) == caps.max_tokens
    assert plan.ttft_s == caps.max_wait_s
    assert len(plan.tokens) * plan.interval_s <= caps.max_duration_s
    assert parse_fault({"stall_after": 1, "stall_s": 10**9}, caps).stall_s == caps.max_wait_s


def test_sync_gives_the_simulator_account_the_internal_key(settings):
    settings.PRISM_SIMULATOR = True

    (account,) = [a for a in sync_providers() if a.kind == "simulator"]

    assert account.api_key == settings.PRISM_SIMULATOR_KEY
    assert settings.PRISM_SIMULATOR_KEY not in account.api_key_encrypted


def simulator_setting(**env: str) -> str:
    """PRISM_SIMULATOR as the settings read it from this environment."""
    keep = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k not in ("DEBUG", "PRISM_SIMULATOR")}
    script = "import config.settings as s; print(s.PRISM_SIMULATOR)"
    result = subprocess.run(
        [PYTHON, "-c", script], cwd=ROOT, env=keep | env, capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.strip()


def test_it_is_off_in_production_unless_switched_on():
    assert simulator_setting() == "True"  # the embedded default: no provider, no setup
    assert simulator_setting(OPENAI_API_KEY="sk-real") == "False"
    assert simulator_setting(OPENAI_API_KEY="sk-real", DEBUG="on") == "True"
    assert simulator_setting(OPENAI_API_KEY="sk-real", PRISM_SIMULATOR="on") == "True"
    assert simulator_setting(PRISM_SIMULATOR="off") == "False"


def test_the_compose_setup_keeps_it_off_unless_switched_on():
    compose = yaml.safe_load((Path(ROOT) / "docker-compose.yml").read_text())

    assert compose["x-app"]["environment"]["PRISM_SIMULATOR"] == "${PRISM_SIMULATOR:-off}"
