"""Headless Chromium for the browser tests (Debian's build, never one Playwright downloads), and the
steps on a page that several browser test modules share."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.stack import ROOT, LiveStack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
SWIFT = "Simulator · Swift"


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# --- what a user does on a page, shared by the browser tests ------------------------------------------


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


def choose(page: Page, counts: dict[str, int]) -> None:
    """Ask each named model that many times; every other model not at all."""
    for choice in page.locator(".model-choice").all():
        choice.locator("input[name=models]").uncheck()
    for name, count in counts.items():
        page.locator(".model-choice", has_text=name).locator(".model-count").fill(str(count))
