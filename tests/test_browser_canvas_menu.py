"""Headless Chromium on the canvas's own menu: each item does its job end to end from the canvas (a share
link opens the canvas signed out until revoked; a move changes the team shown; the exports download
files whose content is the canvas; an import opens a canvas with the same nodes; a comment posts from the
Comments panel; Compare opens the compare page on the canvas's answers; rename, duplicate and delete do
theirs), a viewer is offered no item
that changes anything, and the menu works from the keyboard, on a phone-sized screen and in dark mode."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser import ARTIFACTS, api, luminance, signed_in_pages, signed_in_state
from tests.stack import LiveStack, django_shell, live_stack

pytestmark = pytest.mark.browser

ANSWER_TIMEOUT_MS = 60_000
VIEWER_PASSWORD = "viewer-password-1"

# vic views u's personal team; u also owns a second team, Research, to move canvases to.
_PEOPLE = f"""
from django.contrib.auth import get_user_model
from canvas.models import Membership, Team
User = get_user_model()
u = User.objects.get(username="u")
personal = Membership.objects.get(user=u, team__personal=True).team
vic = User.objects.create_user("vic", password={VIEWER_PASSWORD!r})
Membership.objects.create(team=personal, user=vic, role="viewer")
research = Team.objects.create(name="Research")
Membership.objects.create(team=research, user=u, role="owner")
emit({{"personal": str(personal.id), "research": str(research.id)}})
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with live_stack("embedded", tmp_path_factory.mktemp("canvas-menu")) as stack:
        yield stack


@pytest.fixture(scope="module", autouse=True)
def teams(stack) -> dict[str, str]:
    """The ids of u's personal team (which vic views) and of Research (which u owns too)."""
    return django_shell(stack.env, _PEOPLE)


@pytest.fixture
def viewer_page(browser, stack, tmp_path_factory):
    state = signed_in_state(browser, stack, tmp_path_factory.mktemp("vic"), "vic", VIEWER_PASSWORD)
    with signed_in_pages(browser, state) as make:
        yield make()


@pytest.fixture
def guest_page(browser):
    with signed_in_pages(browser, None) as make:
        yield make()


def new_canvas(stack: LiveStack, title: str, note: str = "") -> str:
    canvas_id = api(stack, "POST", "/canvases", json={"title": title})["id"]
    if note:
        api(stack, "POST", f"/canvases/{canvas_id}/notes", json={"text": note})
    return canvas_id


def visit(page: Page, stack: LiveStack, canvas_id: str) -> None:
    page.goto(f"{stack.base_url}/canvases/{canvas_id}/")
    expect(page.locator("#connection")).to_have_text("live")


def menu_item(page: Page, name: str):
    """Open the canvas menu (if closed) and return its item called `name`."""
    button = page.get_by_role("button", name="Menu")
    if button.get_attribute("aria-expanded") != "true":
        button.click()
    expect(page.get_by_role("menu", name="Canvas menu")).to_be_visible()
    return page.get_by_role("menuitem", name=name)


def item_names(page: Page) -> list[str]:
    menu_item(page, "Comments…")
    return [item.inner_text().strip() for item in page.get_by_role("menuitem").all()]


def test_the_menu_works_from_the_keyboard(page, stack):
    visit(page, stack, new_canvas(stack, "Keyboard menu"))
    button = page.get_by_role("button", name="Menu")
    button.focus()
    page.keyboard.press("Enter")
    menu = page.get_by_role("menu", name="Canvas menu")
    expect(menu).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("menuitem", name="Share…")).to_be_focused()
    # The focused item shows it (an outline in the focus colour).
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("menuitem", name="Move to team…")).to_be_focused()
    page.keyboard.press("End")
    expect(page.get_by_role("menuitem", name="Delete canvas…")).to_be_focused()
    page.keyboard.press("ArrowDown")  # round to the first
    expect(page.get_by_role("menuitem", name="Share…")).to_be_focused()
    page.keyboard.press("n")  # a letter in the menu is no canvas shortcut: no note appears
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(button).to_be_focused()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(page.locator(".node-note")).to_have_count(0)

    # An item opened from the keyboard: its dialog closes on Esc and the focus comes back to the menu.
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("menuitem", name="Share…")).to_be_focused()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name=re.compile("Share"))
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()


def test_a_share_link_from_the_menu_opens_the_canvas_signed_out_until_revoked(page, guest_page, stack):
    canvas_id = new_canvas(stack, "Shared harbour", "The lighthouse keeper's log")
    visit(page, stack, canvas_id)
    menu_item(page, "Share…").click()
    dialog = page.get_by_role("dialog", name=re.compile("Share"))
    expect(dialog.locator(".people li")).to_have_text([re.compile(r"u\s+Owner"), re.compile(r"vic\s+Viewer")])
    expect(dialog.locator("#share-links")).to_contain_text("No share links yet.")
    dialog.get_by_label("Who is it for?").fill("Auditor")
    dialog.get_by_label("Expires after (days)").fill("7")
    dialog.get_by_role("button", name="Create share link").click()
    url = dialog.get_by_label("New share link")
    expect(url).to_have_value(re.compile(r"^http://.+/s/.+/$"))
    link_url = url.input_value()
    expect(dialog.locator("#share-links .share-link")).to_have_count(1)
    expect(dialog.locator("#share-links .share-link")).to_contain_text("Auditor")

    # Signed out, the link shows the canvas, read-only, live.
    guest_page.goto(link_url)
    expect(guest_page.locator(".canvas-title")).to_have_text("Shared harbour")
    expect(guest_page.locator(".node-note")).to_contain_text("The lighthouse keeper's log")
    expect(guest_page.locator("#connection")).to_have_text("live")
    expect(guest_page.get_by_role("button", name="Menu")).to_have_count(0)

    # Revoked from the same dialog, it opens nothing any more.
    dialog.get_by_role("button", name="Revoke Auditor").click()
    expect(dialog.locator("#share-links .share-link.inactive")).to_contain_text("revoked")
    assert api(stack, "GET", f"/canvases/{canvas_id}/share-links")[0]["revoked_at"] is not None
    guest_page.goto(link_url)
    expect(guest_page.get_by_text("This share link was revoked")).to_be_visible()


def test_moving_from_the_menu_changes_the_team_shown(page, stack, teams):
    canvas_id = new_canvas(stack, "Moving house")
    visit(page, stack, canvas_id)
    expect(page.locator("#canvas-team")).to_have_text("u's team")
    menu_item(page, "Move to team…").click()
    dialog = page.get_by_role("dialog", name="Move to another team")
    dialog.get_by_label("Team to move to").select_option(label="Research")
    dialog.get_by_role("button", name="Move canvas").click()
    expect(page.locator("#canvas-team")).to_have_text("Research")
    expect(page.locator("#canvas-team")).to_have_attribute("href", f"/teams/{teams['research']}/")
    assert api(stack, "GET", f"/canvases/{canvas_id}")["team"] == teams["research"]


def test_the_exports_download_the_canvas_as_markdown_and_json(page, stack):
    canvas_id = new_canvas(stack, "Export me", "A note worth keeping")
    visit(page, stack, canvas_id)
    with page.expect_download() as markdown:
        menu_item(page, "Export Markdown").click()
    assert markdown.value.suggested_filename == "export-me.md"
    text = open(markdown.value.path(), encoding="utf-8").read()
    assert "# Export me" in text and "A note worth keeping" in text

    with page.expect_download() as exported:
        menu_item(page, "Export JSON").click()
    assert exported.value.suggested_filename == "export-me.prism.json"
    data = json.loads(open(exported.value.path(), encoding="utf-8").read())
    assert data["canvas"]["title"] == "Export me"
    assert [node["text"] for node in data["nodes"]] == ["A note worth keeping"]


def test_an_import_from_the_menu_opens_a_canvas_with_the_same_nodes(page, stack, tmp_path):
    source = new_canvas(stack, "Original", "First thought")
    api(stack, "POST", f"/canvases/{source}/notes", json={"text": "Second thought"})
    exported = tmp_path / "original.prism.json"
    with stack.client() as client:
        exported.write_bytes(client.get(f"/api/canvases/{source}/export?format=json").content)
    visit(page, stack, new_canvas(stack, "Somewhere else"))

    with page.expect_file_chooser() as chooser:
        menu_item(page, "Import JSON…").click()
    chooser.value.set_files(str(exported))

    expect(page).not_to_have_url(re.compile(source))
    expect(page.locator(".canvas-title")).to_have_text("Original")
    expect(page.locator(".node-note")).to_have_count(2)
    imported = page.url.rstrip("/").split("/")[-1]
    texts = sorted(node["text"] for node in api(stack, "GET", f"/canvases/{imported}")["nodes"])
    assert imported != source and texts == ["First thought", "Second thought"]


def test_a_comment_posts_from_the_comments_panel(page, stack):
    canvas_id = new_canvas(stack, "Talk it over", "Is this right?")
    visit(page, stack, canvas_id)
    note = page.locator(".node-note")
    note.locator(".node-head").click()
    expect(note).to_have_class(re.compile(r"\bselected\b"))
    menu_item(page, "Comments…").click()
    dialog = page.get_by_role("dialog", name="Comments")
    expect(dialog.get_by_text("No comments on this canvas yet.")).to_be_visible()
    expect(dialog).to_contain_text("On Note: Is this right?")
    dialog.get_by_label("New comment").fill("Looks right to me.")
    dialog.get_by_label("New comment").press("Enter")
    expect(dialog.locator(".comment")).to_have_count(1)
    expect(dialog.locator(".comment")).to_contain_text("Looks right to me.")
    note_id = note.get_attribute("data-id")
    assert [c["text"] for c in api(stack, "GET", f"/nodes/{note_id}/comments")] == ["Looks right to me."]
    # The comment leads to its node.
    dialog.locator(".comment button").click()
    expect(dialog).to_be_hidden()
    expect(note.locator(".comments-toggle")).to_have_text("Comments (1)")


def test_compare_opens_the_compare_page_with_the_canvas_answers(page, stack):
    canvas_id = new_canvas(stack, "Compare from the menu")
    models = {m["model"]: m["id"] for m in api(stack, "GET", "/models")}
    body = {"text": "Name a colour.", "models": [models["sim-swift"], models["sim-reasoner"]], "parents": []}
    prompt = api(stack, "POST", f"/canvases/{canvas_id}/prompts", json=body)
    visit(page, stack, canvas_id)
    expect(page.locator(".node-response.status-done")).to_have_count(2, timeout=ANSWER_TIMEOUT_MS)

    menu_item(page, "Compare answers").click()

    expect(page).to_have_url(re.compile(f"/canvases/{canvas_id}/compare/{prompt['prompt']['id']}/$"))
    expect(page.locator("#prompt-text")).to_have_text("Name a colour.")
    columns = page.locator(".column")
    expect(columns).to_have_count(2)
    assert sorted(c.get_attribute("data-id") for c in columns.all()) == sorted(r["id"] for r in prompt["responses"])


def test_rename_duplicate_and_delete_from_the_menu(page, stack):
    canvas_id = new_canvas(stack, "Draft", "Keep this note")
    visit(page, stack, canvas_id)

    menu_item(page, "Rename and tag…").click()
    dialog = page.get_by_role("dialog", name="Rename and tag")
    dialog.get_by_label("Title").fill("Final plan")
    dialog.get_by_label("Tags").fill("plans, q4")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(".canvas-title")).to_have_text("Final plan")
    expect(page).to_have_title("Final plan · Prism")
    saved = api(stack, "GET", f"/canvases/{canvas_id}")
    assert (saved["title"], saved["tags"]) == ("Final plan", ["plans", "q4"])

    menu_item(page, "Duplicate").click()
    expect(page).not_to_have_url(re.compile(canvas_id))
    expect(page.locator(".node-note")).to_contain_text("Keep this note")
    copy = page.url.rstrip("/").split("/")[-1]
    assert [node["text"] for node in api(stack, "GET", f"/canvases/{copy}")["nodes"]] == ["Keep this note"]

    visit(page, stack, canvas_id)
    menu_item(page, "Delete canvas…").click()
    dialog = page.get_by_role("dialog", name=re.compile("^Delete"))
    dialog.get_by_role("button", name="Keep it").click()
    expect(dialog).to_be_hidden()
    menu_item(page, "Delete canvas…").click()
    dialog.get_by_role("button", name="Delete canvas").click()
    expect(page.get_by_role("heading", name="Your canvases")).to_be_visible()
    expect(page.locator("#recently-deleted")).to_contain_text("Final plan")
    with stack.client() as client:
        assert client.get(f"/api/canvases/{canvas_id}").status_code == 404


def test_a_viewer_is_offered_nothing_that_changes_the_canvas(viewer_page, stack):
    canvas_id = new_canvas(stack, "Look, do not touch", "Read me")
    visit(viewer_page, stack, canvas_id)
    assert item_names(viewer_page) == [
        "People with access…",
        "Export Markdown",
        "Export JSON",
        "Import JSON…",
        "Comments…",
        "Compare answers",
    ]
    menu_item(viewer_page, "People with access…").click()
    dialog = viewer_page.get_by_role("dialog", name="People with access")
    expect(dialog.locator(".people li")).to_have_count(2)
    expect(dialog.get_by_role("button", name="Create share link")).to_have_count(0)
    # The server refuses what the menu does not offer.
    status = viewer_page.evaluate(
        """async (canvasId) => (await fetch(`/api/canvases/${canvasId}/share-links`, {
            method: "POST", headers: {"Content-Type": "application/json",
            "X-CSRFToken": document.querySelector("meta[name=csrf-token]").content}, body: "{}"})).status""",
        canvas_id,
    )
    assert status == 403


def test_the_menu_fits_a_phone_screen_in_dark_mode(new_page, stack):
    page = new_page(390, 844, color_scheme="dark")
    visit(page, stack, new_canvas(stack, "Phone menu"))
    # The empty canvas's explanation takes the phone's width, not the half right of its centre.
    hint = page.locator("#empty-hint").bounding_box()
    assert hint["width"] >= 390 - 40 and hint["x"] >= 0 and hint["x"] + hint["width"] <= 390, hint
    menu = page.get_by_role("menu", name="Canvas menu")
    menu_item(page, "Share…")
    box = menu.bounding_box()
    assert box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= 390 and box["y"] + box["height"] <= 844
    for item in page.get_by_role("menuitem").all():
        expect(item).to_be_in_viewport()
    background = menu.evaluate("element => getComputedStyle(element).backgroundColor")
    colour = menu.get_by_role("menuitem", name="Share…").evaluate("element => getComputedStyle(element).color")
    assert luminance(background) < 0.2 < 0.6 < luminance(colour), (background, colour)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "canvas-menu-390-dark.png"))

    menu_item(page, "Share…").click()
    dialog = page.get_by_role("dialog", name=re.compile("Share"))
    dialog_box = dialog.bounding_box()
    assert dialog_box["x"] >= 0 and dialog_box["x"] + dialog_box["width"] <= 390
    assert luminance(dialog.evaluate("element => getComputedStyle(element).backgroundColor")) < 0.2
