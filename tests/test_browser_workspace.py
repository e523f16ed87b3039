"""Headless Chromium on the canvas list (search as you type, rename and tag, delete and undo, the starting
canvas of an empty list) and on the canvas (deleting a node, which others see go; the switcher; an empty
canvas's explanation). One live embedded stack (SQLite: the embedded search) serves the whole module."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser import SWIFT, choose
from tests.stack import LiveStack, live_stack

pytestmark = pytest.mark.browser

ANSWER_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with live_stack("embedded", tmp_path_factory.mktemp("workspace-ui")) as stack:
        yield stack


def api(stack: LiveStack, method: str, path: str, **kwargs):
    with stack.client() as client:
        response = client.request(method, f"/api{path}", **kwargs)
    return response


def fresh_start(stack: LiveStack) -> None:
    """No canvas left in the list (deleted ones stay restorable)."""
    for canvas in api(stack, "GET", "/canvases").json():
        assert api(stack, "DELETE", f"/canvases/{canvas['id']}").status_code == 204


def row(page: Page, canvas_id: str):
    return page.locator(f"#canvas-row-{canvas_id}")


def test_an_empty_list_offers_a_starting_canvas_that_explains_what_to_do(page, stack):
    fresh_start(stack)
    page.goto(f"{stack.base_url}/")

    page.get_by_role("button", name="Start with a sample canvas").click()

    expect(page).to_have_url(re.compile(r"/canvases/[0-9a-f-]{36}/$"))
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.locator(".node-note")).to_contain_text("Welcome to Prism")
    expect(page.locator("#empty-hint")).to_be_hidden()


def test_the_list_searches_renames_deletes_and_undoes(page, stack):
    fresh_start(stack)
    poems = api(stack, "POST", "/canvases", json={"title": "Harbour poems"}).json()["id"]
    api(stack, "POST", f"/canvases/{poems}/notes", json={"text": "Ask about the lighthouse keeper"})
    budget = api(stack, "POST", "/canvases", json={"title": "Budget notes"}).json()["id"]
    page.goto(f"{stack.base_url}/")
    page.evaluate("window.__samePage = true")  # gone if anything below reloads the page
    expect(page.locator(".canvas-row")).to_have_count(2)
    expect(row(page, poems).locator("[data-field=nodes]")).to_have_text("1")

    # Search as you type: the words of a note find its canvas, and only that one.
    page.get_by_label("Search canvases").fill("lighthouse keeper")
    hits = page.locator("#search-results .search-hit")
    expect(hits).to_have_count(1)
    expect(hits.first).to_contain_text("Harbour poems")
    expect(hits.first.locator(".snippet")).to_contain_text("lighthouse keeper")
    page.get_by_label("Search canvases").fill("")
    expect(page.locator(".canvas-row")).to_have_count(2)

    # Rename and tag in place.
    row(page, budget).get_by_text("Rename").click()
    row(page, budget).get_by_label("Title").fill("Quarterly budget")
    row(page, budget).get_by_label("Tags").fill("finance, q3")
    row(page, budget).get_by_role("button", name="Save").click()
    expect(row(page, budget).locator(".canvas-link")).to_have_text("Quarterly budget")
    expect(row(page, budget).locator(".tag")).to_have_text(["finance", "q3"])
    saved = api(stack, "GET", f"/canvases/{budget}").json()
    assert (saved["title"], saved["tags"]) == ("Quarterly budget", ["finance", "q3"])

    # Delete, then undo.
    row(page, poems).get_by_role("button", name="Delete").click()
    expect(row(page, poems)).to_contain_text("deleted")
    assert api(stack, "GET", f"/canvases/{poems}").status_code == 404
    row(page, poems).get_by_role("button", name="Undo").click()
    expect(row(page, poems).locator(".canvas-link")).to_have_text("Harbour poems")
    assert api(stack, "GET", f"/canvases/{poems}").status_code == 200
    assert page.evaluate("window.__samePage === true")  # all in place: htmx swapped the parts, no reload


def test_deleting_a_node_takes_its_answers_and_everyone_sees_it_go(new_page, stack):
    page, watcher = new_page(), new_page()
    other = api(stack, "POST", "/canvases", json={"title": "Somewhere else"}).json()["id"]
    canvas_id = api(stack, "POST", "/canvases", json={"title": "Deleting"}).json()["id"]
    page.goto(f"{stack.base_url}/canvases/{canvas_id}/")
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.locator("#empty-hint")).to_be_visible()

    choose(page, {SWIFT: 2})
    page.get_by_label("Prompt").fill("Name a colour")
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".node-response.status-done")).to_have_count(2, timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#empty-hint")).to_be_hidden()
    watcher.goto(f"{stack.base_url}/canvases/{canvas_id}/")
    expect(watcher.locator("#connection")).to_have_text("live")
    expect(watcher.locator(".node")).to_have_count(3)

    # Delete key on the selected question, confirmed: it goes with both answers, here and for the watcher.
    prompt = page.locator(".node-prompt")
    prompt.locator(".node-head").click()
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.keyboard.press("Delete")
    expect(page.locator(".node")).to_have_count(3)  # refused in the dialog: nothing went
    page.once("dialog", lambda dialog: dialog.accept())
    page.keyboard.press("Delete")
    expect(page.locator(".node")).to_have_count(0)
    expect(watcher.locator(".node")).to_have_count(0)
    expect(watcher.locator("#edges path")).to_have_count(0)
    expect(page.locator("#empty-hint")).to_be_visible()
    assert api(stack, "GET", f"/canvases/{canvas_id}").json()["nodes"] == []

    # A note's own Delete button.
    page.get_by_role("button", name="Note").click()
    page.get_by_label("Note text").fill("Short-lived")
    page.get_by_label("Note text").press("Control+Enter")
    expect(watcher.locator(".node-note")).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(".node-note").get_by_role("button", name="Delete").click()
    expect(watcher.locator(".node-note")).to_have_count(0)

    # The switcher goes to another canvas.
    page.locator("#canvas-switcher summary").click()
    page.locator("#canvas-switcher").get_by_role("link", name="Somewhere else").click()
    expect(page).to_have_url(f"{stack.base_url}/canvases/{other}/")
