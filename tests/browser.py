"""Headless Chromium for the browser tests (Debian's build, never one Playwright downloads), and the
steps on a page that several browser test modules share."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

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


def sign_in(page: Page, stack: LiveStack, username: str | None = None, password: str | None = None) -> None:
    """Sign in as `username` (the stack's own user u by default)."""
    page.goto(f"{stack.base_url}/accounts/login/")
    page.get_by_label("Username").fill(username or stack.username)
    page.get_by_label("Password").fill(password or stack.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your canvases")).to_be_visible()


def signed_in_state(
    browser: Browser, stack: LiveStack, folder: Path, username: str | None = None, password: str | None = None
) -> str:
    """Sign in once and keep the browser's storage state in a file, so that each page starts signed in."""
    context = browser.new_context()
    sign_in(context.new_page(), stack, username, password)
    path = str(folder / f"{username or stack.username}.state.json")
    context.storage_state(path=path)
    context.close()
    return path


@contextmanager
def signed_in_pages(browser: Browser, storage_state: str | None) -> Iterator[Callable[..., Page]]:
    """A maker of pages, each in a browser context of its own started from `storage_state` (None: signed
    out), `width` × `height` pixels (other keywords go to `new_context`, e.g. color_scheme); every
    context made is closed on the way out."""
    contexts = []

    def make(width: int = 1280, height: int = 800, **options) -> Page:
        context = browser.new_context(
            viewport={"width": width, "height": height}, storage_state=storage_state, **options
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    try:
        yield make
    finally:
        for context in contexts:
            context.close()


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


def api(stack: LiveStack, method: str, path: str, **kwargs):
    """An API call as the stack's user that must succeed: its JSON (None for a 204)."""
    with stack.client() as client:
        response = client.request(method, f"/api{path}", **kwargs)
    assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.status_code != 204 else None


# --- dark mode -----------------------------------------------------------------------------------


def luminance(colour: str) -> float:
    """0 (black) to 1 (white), of a computed CSS colour (`rgb(…)` / `rgba(…)`)."""
    red, green, blue = (int(part) for part in re.findall(r"\d+", colour)[:3])
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


def light_pixels_under(canvas, share: float = 0.15) -> int:
    """How many light pixels the bottom `share` of a chart's canvas holds: its x axis's labels, in the
    text colour (no data is drawn there)."""
    return canvas.evaluate(
        """(canvas, share) => {
            const rows = Math.max(1, Math.floor(canvas.height * share));
            const data = canvas.getContext("2d").getImageData(0, canvas.height - rows, canvas.width, rows).data;
            let light = 0;
            for (let i = 0; i < data.length; i += 4) {
                if (data[i + 3] > 128 && 0.2126 * data[i] + 0.7152 * data[i + 1] + 0.0722 * data[i + 2] > 150) light++;
            }
            return light;
        }""",
        share,
    )


def assert_dark_page(page: Page) -> None:
    """A server-rendered page (cards, a table, a select) in the dark theme: dark grounds, light text."""
    body = page.evaluate("getComputedStyle(document.body).backgroundColor")
    card = page.locator(".card").first.evaluate("e => getComputedStyle(e).backgroundColor")
    text = page.locator("h1").first.evaluate("e => getComputedStyle(e).color")
    cell = page.locator("table td").first.evaluate("e => getComputedStyle(e).color")
    select = page.locator("select").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert luminance(body) < 0.15 and luminance(card) < 0.15 and luminance(select) < 0.15, (body, card, select)
    assert luminance(text) > 0.7 and luminance(cell) > 0.7, (text, cell)
