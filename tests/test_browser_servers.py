"""Headless Chromium on the servers page: a busy vLLM server's panel, its charts drawn, its figures
refreshed by polling as the server's own figures move; then the server goes away, the panel says it is
unreachable, and the canvas composer warns before a prompt is sent to its models."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import chromium, sign_in
from tests.fakes.server import serve
from tests.fakes.vllm import create_app
from tests.stack import live_stack

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def vllm_server():
    """A vLLM server under load (its figures move at every read), on a port of its own."""
    app = create_app(busy=True)
    with serve(app) as base_url:
        yield app, base_url


@pytest.fixture(scope="module")
def stack(vllm_server, tmp_path_factory):
    _, base_url = vllm_server
    settings = {"VLLM_BASE_URL": f"{base_url}/v1", "PRISM_SERVER_SCRAPE_S": "1"}
    with live_stack("embedded", tmp_path_factory.mktemp("servers"), env=settings) as stack:
        yield stack


def test_the_panel_draws_refreshes_and_shows_the_server_down_as_the_composer_does(stack, vllm_server):
    app, _ = vllm_server
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(20_000)
        refused = []
        page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
        sign_in(page, stack)

        page.get_by_role("link", name="Servers").click()
        panel = page.locator(".server-panel", has_text="vLLM")
        expect(panel.locator("[data-field=state]")).to_have_text("Healthy")
        expect(panel.locator(".server-chart[data-drawn=true] canvas")).to_have_count(3)

        # The server's figures move at every read; polling brings each new reading to the page.
        running = panel.locator("[data-field=running]")
        expect(running).not_to_have_text("—")
        first = running.inner_text()
        expect(running).not_to_have_text(first)
        expect(panel.locator("[data-field=gen]")).not_to_have_text("—")
        expect(page.locator("#server-panels .uplot")).to_have_count(3)  # redrawn, the old charts gone

        app.health_status = 503
        expect(panel.locator("[data-field=state]")).to_have_text("Down")
        expect(panel.locator("[data-field=reason]")).to_have_text("Health check answered HTTP 503")

        page.goto(f"{stack.base_url}/")
        page.get_by_label("New canvas title").fill("Self-hosted")
        page.get_by_role("button", name="Create canvas").click()
        ours = page.locator(".model-choice[data-unavailable]")
        expect(ours).to_have_count(3)  # the three models the vLLM server lists
        notice = page.locator("#server-notice")
        for choice in page.locator(".model-choice").all():
            choice.locator("input[name=models]").uncheck()
        expect(notice).to_be_hidden()
        ours.first.locator("input[name=models]").check()
        expect(ours.first.locator(".server-down")).to_be_visible()
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("Health check answered HTTP 503")
        ours.first.locator("input[name=models]").uncheck()
        expect(notice).to_be_hidden()
        assert refused == []
