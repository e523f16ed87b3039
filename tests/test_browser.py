"""Headless Chromium against a live embedded stack: sign in, ask two models, watch them answer."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser import ARTIFACTS, chromium
from tests.stack import LiveStack, live_stack

pytestmark = pytest.mark.browser

ANSWER_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with live_stack("embedded", tmp_path_factory.mktemp("browser")) as stack:
        yield stack


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser, stack):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Page, stack: LiveStack) -> None:
    page.goto(f"{stack.base_url}/accounts/login/")
    page.get_by_label("Username").fill(stack.username)
    page.get_by_label("Password").fill(stack.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your canvases")).to_be_visible()


def open_new_canvas(page: Page, title: str) -> None:
    page.get_by_label("New canvas title").fill(title)
    page.get_by_role("button", name="Create canvas").click()
    expect(page).to_have_url(re.compile(r"/canvases/[0-9a-f-]{36}/$"))
    expect(page.locator("#connection")).to_have_text("live")


def ask(page: Page, text: str, models: list[str]) -> None:
    page.get_by_label("Prompt").fill(text)
    for checkbox in page.locator("input[name=models]").all():
        checkbox.uncheck()
    for name in models:
        page.locator(".model-choice", has_text=name).locator("input[name=models]").check()
    expect(page.locator("input[name=models]:checked")).to_have_count(len(models))
    page.get_by_role("button", name="Run").click()


def shown_text(page: Page, node_id: str) -> str:
    """The Markdown source of the node's text as the page holds it (the node shows it rendered)."""
    return page.evaluate("(id) => window.prism.node(id).text", node_id)


def stored_text(stack: LiveStack, node_id: str) -> str:
    response = httpx.get(f"{stack.base_url}/api/nodes/{node_id}", headers=stack.headers, timeout=10.0)
    assert response.status_code == 200, response.text
    return response.json()["text"]


def test_two_models_answer_side_by_side(page, stack):
    sign_in(page, stack)
    open_new_canvas(page, "Side by side")
    ask(page, "Why is the sky blue?", ["Simulator · Swift", "Simulator · Reasoner"])

    responses = page.locator(".node-response")
    expect(page.locator(".node-response.status-done")).to_have_count(2, timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator(".node-prompt")).to_have_count(1)
    expect(responses).to_have_count(2)
    boxes = []
    for response in responses.all():
        expect(response.locator("[data-field=status]")).to_have_text("done")
        node_id = response.get_attribute("data-id")
        text = shown_text(page, node_id)
        assert text and text == stored_text(stack, node_id)
        boxes.append(response.bounding_box())
    left, right = sorted(boxes, key=lambda box: box["x"])
    assert left["y"] == right["y"]
    assert left["x"] + left["width"] <= right["x"]

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "canvas.png")


def test_a_reload_mid_stream_keeps_the_text_and_goes_on(page, stack):
    sign_in(page, stack)
    open_new_canvas(page, "Reload mid-stream")
    ask(page, "Tell me a long story.", ["Simulator · Steady"])

    response = page.locator(".node-response")
    expect(response.locator("[data-field=text]")).not_to_have_text("")
    node_id = response.get_attribute("data-id")
    before = shown_text(page, node_id)

    page.reload()
    expect(page.locator("#connection")).to_have_text("live")
    after_reload = shown_text(page, node_id)
    assert after_reload.startswith(before)
    # The text keeps growing past what the reloaded page first showed, until the answer is done.
    page.wait_for_function(
        "([id, shown]) => window.prism.node(id).text.length > shown",
        arg=[node_id, len(after_reload)],
        timeout=ANSWER_TIMEOUT_MS,
    )
    expect(response).to_have_class(re.compile(r"\bstatus-done\b"), timeout=ANSWER_TIMEOUT_MS)
    final = shown_text(page, node_id)
    assert final.startswith(after_reload)
    assert final == stored_text(stack, node_id)
