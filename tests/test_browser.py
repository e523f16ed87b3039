"""Headless Chromium against a live embedded stack: sign in, ask two models, watch them answer."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import ARTIFACTS, SWIFT, ask, open_new_canvas, shown_text, sign_in, stored_text
from tests.stack import live_stack

pytestmark = pytest.mark.browser

ANSWER_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with live_stack("embedded", tmp_path_factory.mktemp("browser")) as stack:
        yield stack


@pytest.fixture
def page(browser, stack):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


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
    # The prompt's card has room for its text above its votes' line and its actions: none of it is cut.
    assert page.locator(".node-prompt .node-body").evaluate("body => body.scrollHeight <= body.clientHeight")

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


def test_the_pages_run_under_the_content_security_policy(page, stack):
    """Nothing a page or its libraries do (htmx, the canvas, Markdown, Swagger UI) is refused by the policy."""
    refused: list[str] = []
    page.on("console", lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None)

    sign_in(page, stack)
    open_new_canvas(page, "Under the policy")
    ask(page, "Say something **bold**.", [SWIFT])
    expect(page.locator(".node-response.status-done")).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
    page.goto(f"{stack.base_url}/accounts/tokens/")
    page.get_by_label("Token name").fill("policy")
    page.evaluate("() => { window.samePage = true; }")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_label("New token")).to_be_visible()
    assert page.evaluate("() => window.samePage === true")  # htmx swapped the section; the page stayed
    page.get_by_label("New token").focus()
    selected = "() => [document.activeElement.selectionStart, document.activeElement.selectionEnd]"
    assert page.evaluate(selected) == [0, len(page.get_by_label("New token").input_value())]  # ready to copy
    page.goto(f"{stack.base_url}/api/docs")
    expect(page.locator(".opblock").first).to_be_visible()

    assert refused == []
