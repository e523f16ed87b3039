"""Headless Chromium on the composer's generation controls: a temperature set for one model reaches
its answer and the context preview; the choice of models and settings is remembered after a reload;
nothing is chosen by default, and a model whose server is down is never chosen for you, not even from
the remembered choice."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser import SWIFT, chromium, open_new_canvas, sign_in
from tests.fakes.server import serve
from tests.fakes.vllm import create_app
from tests.stack import live_stack

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def vllm_server():
    app = create_app()
    with serve(app) as base_url:
        yield app, base_url


@pytest.fixture(scope="module")
def stack(vllm_server, tmp_path_factory):
    _, base_url = vllm_server
    settings = {"VLLM_BASE_URL": f"{base_url}/v1", "PRISM_SERVER_SCRAPE_S": "1"}
    with live_stack("embedded", tmp_path_factory.mktemp("controls"), env=settings) as stack:
        yield stack


def test_a_temperature_reaches_the_answer_and_the_choice_is_remembered_but_never_a_down_model(stack, vllm_server):
    app, _ = vllm_server
    app.health_status = 503
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(20_000)
        refused = []
        page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
        sign_in(page, stack)
        # The server is checked every second: its panel says when a check has found it down.
        page.get_by_role("link", name="Servers").click()
        expect(page.locator(".server-panel", has_text="vLLM").locator("[data-field=state]")).to_have_text("Down")
        page.goto(f"{stack.base_url}/")
        open_new_canvas(page, "Controls")

        # Nothing is chosen for a first visit; the down server's models are marked.
        expect(page.locator("input[name=models]:checked")).to_have_count(0)
        down = page.locator(".model-choice[data-unavailable]")
        expect(down.first.locator(".server-down")).to_be_visible()

        swift = page.locator(".model-choice", has_text=SWIFT)
        swift.locator("input[name=models]").check()
        expect(swift.get_by_label("Temperature")).to_be_hidden()  # closed behind ⚙ while on its defaults
        swift.get_by_role("button", name=f"Settings for {SWIFT}").click()
        swift.get_by_label("Temperature").fill("0.3")
        swift.get_by_label("Temperature").dispatch_event("change")
        page.get_by_label("Prompt").fill("Name a colour.")
        page.get_by_text("Context preview").click()
        expect(page.locator("[data-field=params]")).to_have_text('{"temperature":0.3}')

        page.get_by_role("button", name="Run").click()
        answer = page.locator(".node-response.status-done")
        expect(answer).to_have_count(1, timeout=30_000)
        expect(answer.locator("[data-field=title]")).to_have_attribute("title", "temperature 0.3")
        node_id = answer.get_attribute("data-id")
        stored = httpx.get(f"{stack.base_url}/api/nodes/{node_id}", headers=stack.headers, timeout=10.0).json()
        assert stored["params"] == {"temperature": 0.3}

        # A down model chosen by hand is remembered with the rest, but not chosen again on the next visit.
        down.first.locator("input[name=models]").check()
        page.reload()
        expect(page.locator("#connection")).to_have_text("live")
        swift = page.locator(".model-choice", has_text=SWIFT)
        expect(swift.locator("input[name=models]")).to_be_checked()
        expect(swift.get_by_label("Temperature")).to_have_value("0.3")
        expect(page.locator(".model-choice[data-unavailable] input[name=models]:checked")).to_have_count(0)
        expect(page.locator("input[name=models]:checked")).to_have_count(1)

        # The chosen models and settings saved as a preset, then chosen again from it.
        page.once("dialog", lambda dialog: dialog.accept("Warm swift"))
        page.locator("#preset-save").click()
        expect(page.locator("#preset-select option", has_text="Warm swift")).to_have_count(1)
        swift.locator("input[name=models]").uncheck()
        swift.get_by_label("Temperature").fill("")
        page.locator("#preset-select").select_option("")
        page.locator("#preset-select").select_option(label="Warm swift")
        expect(swift.locator("input[name=models]")).to_be_checked()
        expect(swift.get_by_label("Temperature")).to_have_value("0.3")

        # The canvas's system prompt, set in the composer, goes first in what the model is sent.
        page.locator("#system-prompt-box summary").click()
        page.locator("#system-prompt").fill("Answer in French.")
        page.locator("#system-prompt").dispatch_event("change")
        expect(page.locator("#system-prompt-status")).to_have_text("Saved.")
        page.get_by_text("Context preview").click()
        expect(page.locator("#context-preview .message-text").first).to_have_text("Answer in French.")
        assert refused == []
