"""Headless Chromium on the canvas and compare pages as a daily workspace: notes typed at any zoom,
reasoning rendered, live figures that agree with the final ones, wide fan-outs read in a focus view,
dark mode, keyboard access to nodes and a narrow screen. One live embedded stack serves the module."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser import SWIFT, api, choose
from tests.stack import LiveStack, django_shell, live_stack

pytestmark = pytest.mark.browser

ANSWER_TIMEOUT_MS = 60_000
STEADY = "Simulator · Steady"
REASONER = "Simulator · Reasoner"

# Steady answers slowly and at length, so it can be stopped mid-stream; Swift streams long enough to be
# measured while it runs; Reasoner thinks at length (its reasoning has some **bold** words).
_PACE = """
from providers.models import Model
Model.objects.filter(name="sim-steady").update(default_params={"simulator": {"tokens_per_s": 6, "length": 3000}})
Model.objects.filter(name="sim-swift").update(default_params={"simulator": {"tokens_per_s": 25, "length": 150}})
Model.objects.filter(name="sim-reasoner").update(default_params={"simulator": {"reasoning_length": 200, "length": 30}})
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with live_stack("embedded", tmp_path_factory.mktemp("screens-ui")) as stack:
        django_shell(stack.env, _PACE)
        yield stack


# --- helpers --------------------------------------------------------------------------------------


def open_canvas(page: Page, stack: LiveStack, title: str) -> str:
    canvas_id = api(stack, "POST", "/canvases", json={"title": title})["id"]
    page.goto(f"{stack.base_url}/canvases/{canvas_id}/")
    expect(page.locator("#connection")).to_have_text("live")
    return canvas_id


def ask(page: Page, text: str, counts: dict[str, int]) -> None:
    choose(page, counts)
    page.get_by_label("Prompt").fill(text)
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_label("Prompt")).to_have_value("")


def submit(stack: LiveStack, canvas_id: str, text: str, model_names: list[str]) -> tuple[str, list[str]]:
    """Run a prompt through the API: (prompt id, response ids)."""
    models = {m["model"]: m["id"] for m in api(stack, "GET", "/models")}
    body = {"text": text, "models": [models[name] for name in model_names], "parents": []}
    payload = api(stack, "POST", f"/canvases/{canvas_id}/prompts", json=body)
    return payload["prompt"]["id"], [node["id"] for node in payload["responses"]]


def node(page: Page, node_id: str):
    return page.locator(f"#node-{node_id}")


def ids(locator) -> list[str]:
    return [element.get_attribute("data-id") for element in locator.all()]


def all_done(page: Page, count: int) -> list[str]:
    expect(page.locator(".node-response.status-done")).to_have_count(count, timeout=ANSWER_TIMEOUT_MS)
    return ids(page.locator(".node-response"))


# --- bugs -----------------------------------------------------------------------------------------


def test_a_note_typed_at_once_at_low_zoom_keeps_every_key(page, stack):
    open_canvas(page, stack, "Quick note")
    page.evaluate("() => window.prism.viewport.zoomTo(0.2)")
    expect(page.locator("#viewport")).to_have_class(re.compile(r"\bfar\b"))
    page.locator("#viewport").click(position={"x": 600, "y": 400})
    page.keyboard.press("n")
    page.keyboard.type("fresh idea, carefully.", delay=5)  # f, r, c, e, s, . are shortcuts too
    editor = page.get_by_label("Note text")
    expect(editor).to_be_visible()
    expect(editor).to_have_value("fresh idea, carefully.")
    # The card shows the text at once; the server's copy is the PATCH this waits for.
    with page.expect_response(lambda r: r.request.method == "PATCH" and "/nodes/" in r.url) as saved:
        editor.press("Control+Enter")
    assert saved.value.ok
    [note] = ids(page.locator(".node-note"))
    expect(node(page, note).locator("[data-field=text]")).to_have_text("fresh idea, carefully.")
    assert api(stack, "GET", f"/nodes/{note}")["text"] == "fresh idea, carefully."


def test_reasoning_is_rendered_as_markdown(page, stack):
    open_canvas(page, stack, "Reasoning")
    ask(page, "Think it over.", {REASONER: 1})
    [answer] = all_done(page, 1)
    source = page.evaluate("(id) => window.prism.node(id).reasoning", answer)
    assert "**" in source
    reasoning = node(page, answer).locator("[data-field=reasoning]")
    expect(reasoning.locator("strong").first).to_be_attached()
    assert "**" not in reasoning.text_content()


def test_the_live_speed_agrees_with_the_final_figure(page, stack):
    open_canvas(page, stack, "Speed")
    ask(page, "Go steadily.", {SWIFT: 1})
    all_done(page, 1)  # the model's first reported answer tells the page how long its tokens are
    ask(page, "Go steadily again.", {SWIFT: 1})
    expect(page.locator(".node-response")).to_have_count(2)
    running = ids(page.locator(".node-response"))[1]
    speed = node(page, running).locator("[data-metric=speed]")
    # Half way through the answer the estimate has settled.
    page.wait_for_function("(id) => (window.prism.node(id).text.match(/\\S+/g) || []).length >= 75", arg=running)
    live = float(re.search(r"~([\d.]+) tok/s", speed.text_content()).group(1))
    expect(node(page, running)).to_have_class(re.compile(r"\bstatus-done\b"), timeout=ANSWER_TIMEOUT_MS)
    final = api(stack, "GET", f"/nodes/{running}")["metrics"]["tokens_per_s"]
    assert abs(live - final) <= 0.1 * final, (live, final)
    expect(speed).to_contain_text(f"{final:.1f} tok/s")


def test_a_favicon_is_linked_and_served(page, stack):
    page.goto(f"{stack.base_url}/")
    href = page.locator("link[rel=icon]").get_attribute("href")
    response = httpx.get(f"{stack.base_url}{href}", timeout=10.0)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in response.text


def test_a_stopped_answer_counts_its_tokens_as_its_live_figures_did(page, stack):
    open_canvas(page, stack, "Stopped")
    ask(page, "Count along.", {SWIFT: 1})
    all_done(page, 1)  # the model's first reported answer tells the page how long its tokens are
    ask(page, "Count along again.", {SWIFT: 1})
    expect(page.locator(".node-response")).to_have_count(2)
    answer = ids(page.locator(".node-response"))[1]
    page.wait_for_function("(id) => (window.prism.node(id).text.match(/\\S+/g) || []).length >= 60", arg=answer)
    node(page, answer).get_by_role("button", name="Stop").click()
    expect(node(page, answer)).to_have_class(re.compile(r"\bstatus-cancelled\b"))
    metrics = node(page, answer).locator(".metrics")
    expect(metrics.locator("[data-metric=cost]")).not_to_have_text("")  # the final figures are in
    assert "(est.)" not in metrics.inner_text()
    words = page.evaluate("(id) => window.prism.node(id).text.match(/\\S+/g).length", answer)
    counted = int(re.search(r"~(\d+) out", metrics.locator("[data-metric=tokens]").text_content()).group(1))
    assert abs(counted - words) <= 0.1 * words, (counted, words)  # a simulated token is a word
    speed = float(re.search(r"~([\d.]+) tok/s", metrics.locator("[data-metric=speed]").text_content()).group(1))
    assert abs(speed - 25) <= 2.5, speed  # the pace Swift streams at on this stack


# --- reading wide fan-outs ------------------------------------------------------------------------


def test_the_compare_page_fits_eight_columns_on_a_wide_screen(new_page, stack):
    page = new_page(1440, 900)
    canvas_id = api(stack, "POST", "/canvases", json={"title": "Eight"})["id"]
    prompt_id, answers = submit(stack, canvas_id, "All of you.", ["sim-swift"] * 8)
    page.goto(f"{stack.base_url}/canvases/{canvas_id}/compare/{prompt_id}/")
    expect(page.locator(".column[data-status=done]")).to_have_count(8, timeout=ANSWER_TIMEOUT_MS)
    row = page.locator("#columns")
    assert row.evaluate("(row) => row.scrollWidth <= row.clientWidth"), "the row scrolls though nothing needs it"
    right = row.evaluate("(row) => row.getBoundingClientRect().right")
    for column in page.locator(".column").all():
        box = column.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= right + 0.5
        assert box["width"] >= 150  # a readable column, not a sliver


def test_the_focus_view_shows_eight_answers_as_readable_columns_and_esc_goes_back(new_page, stack):
    page = new_page(1440, 900)
    canvas_id = open_canvas(page, stack, "Focus")
    prompt_id, answers = submit(stack, canvas_id, "All eight of you.", ["sim-swift"] * 8)
    expect(page.locator(".node-response.status-done")).to_have_count(8, timeout=ANSWER_TIMEOUT_MS)
    page.get_by_role("button", name="Fit").click()
    assert page.evaluate("() => window.prism.viewport.k") < 0.5  # on the canvas they are too small to read
    node(page, prompt_id).locator(".node-head").click()
    page.keyboard.press("v")

    focus = page.get_by_role("dialog", name="Answers side by side")
    expect(focus).to_be_visible()
    columns = focus.locator(".focus-column")
    expect(columns).to_have_count(8)
    assert sorted(ids(columns)) == sorted(answers)
    for column, answer in zip(columns.all(), ids(columns), strict=True):
        box = column.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 1440 and box["width"] >= 150
        text = column.locator("[data-field=text]")
        expect(text).to_contain_text(api(stack, "GET", f"/nodes/{answer}")["text"].split()[0])
        # Full size: the text at the page's own font size, not scaled down by the canvas's zoom.
        assert text.evaluate("(el) => parseFloat(getComputedStyle(el).fontSize)") >= 14
        assert text.evaluate("(el) => Math.abs(el.getBoundingClientRect().width - el.offsetWidth) < 1")
    assert focus.locator("[data-field=columns]").evaluate("(row) => row.scrollWidth <= row.clientWidth")

    page.keyboard.press("r")  # the canvas's shortcuts stay quiet while reading
    page.keyboard.press("Escape")
    expect(focus).to_be_hidden()
    expect(page.locator(".node-response")).to_have_count(8)
    expect(node(page, prompt_id)).to_have_class(re.compile(r"\bselected\b"))  # the canvas as it was


# --- any screen -----------------------------------------------------------------------------------


def background(locator) -> str:
    return locator.evaluate("(el) => getComputedStyle(el).backgroundColor")


def is_dark(colour: str) -> bool:
    red, green, blue = (int(part) for part in re.findall(r"\d+", colour)[:3])
    return red + green + blue < 3 * 80


def test_dark_mode_follows_the_system_and_the_switch_is_remembered(new_page, stack):
    page = new_page(color_scheme="dark")
    canvas_id = open_canvas(page, stack, "Night")
    api(stack, "POST", f"/canvases/{canvas_id}/notes", json={"text": "A `code` note.", "parents": [], "x": 40, "y": 40})
    page.reload()
    expect(page.locator(".node-note")).to_have_count(1)
    switch = page.get_by_role("button", name="Dark")
    assert is_dark(background(page.locator("body")))
    assert is_dark(background(page.locator(".node-note")))
    assert not is_dark(page.locator(".node-note [data-field=text]").evaluate("(el) => getComputedStyle(el).color"))
    expect(switch).to_have_attribute("aria-pressed", "true")

    switch.click()  # light, though the system is dark
    expect(switch).to_have_attribute("aria-pressed", "false")
    assert not is_dark(background(page.locator("body")))
    page.reload()
    expect(page.get_by_role("button", name="Dark")).to_have_attribute("aria-pressed", "false")
    assert not is_dark(background(page.locator("body")))
    assert not is_dark(background(page.locator(".node-note")))

    page.get_by_role("button", name="Dark").click()  # back to what the system says: followed again
    assert is_dark(background(page.locator("body")))
    assert page.evaluate("() => localStorage.getItem('prism.theme')") is None

    light = new_page(color_scheme="light")
    light.goto(f"{stack.base_url}/")
    assert not is_dark(background(light.locator("body")))
    light.get_by_role("button", name="Dark").click()
    light.reload()
    assert is_dark(background(light.locator("body")))


def focused_id(page: Page) -> str | None:
    return page.evaluate("() => document.activeElement.closest('.node')?.dataset.id ?? null")


def test_nodes_are_reached_selected_voted_on_and_followed_up_from_the_keyboard(page, stack):
    canvas_id = open_canvas(page, stack, "Keys")
    prompt_id, answers = submit(stack, canvas_id, "Two of you.", ["sim-swift", "sim-reasoner"])
    expect(page.locator(".node-response.status-done")).to_have_count(2, timeout=ANSWER_TIMEOUT_MS)
    page.locator("#viewport").click(position={"x": 5, "y": 5})

    page.keyboard.press("Tab")
    assert focused_id(page) == prompt_id
    style = "(el) => `${getComputedStyle(el).outlineStyle} ${getComputedStyle(el).outlineWidth}`"
    ring = node(page, prompt_id).evaluate(style)
    assert ring.startswith("solid") and not ring.endswith(" 0px"), ring  # visible focus

    page.keyboard.press("ArrowDown")  # the answers lie below their question
    first = focused_id(page)
    assert first in answers
    page.keyboard.press("ArrowRight" if first == answers[0] else "ArrowLeft")
    second = focused_id(page)
    assert second in answers and second != first
    page.keyboard.press("Enter")
    expect(node(page, second)).to_have_class(re.compile(r"\bselected\b"))
    expect(node(page, first)).not_to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("ArrowRight" if second == answers[0] else "ArrowLeft")
    assert focused_id(page) == first
    page.keyboard.press("Shift+Enter")  # adds to the selection
    assert sorted(page.evaluate("() => window.prism.selection()")) == sorted(answers)
    expect(page.locator("#vote-bar")).to_be_visible()
    page.keyboard.press("3")  # and a vote, from the keyboard too
    expect(page.locator("#toast")).to_have_text("Vote saved.")
    page.keyboard.press("ArrowUp")
    assert focused_id(page) == prompt_id
    page.keyboard.press("ArrowDown")
    followed = focused_id(page)
    page.keyboard.press("f")  # follows the focused node up (on the background F fits the view)
    expect(page.get_by_label("Prompt")).to_be_focused()
    expect(page.locator("#following")).to_contain_text("Following up 1 node(s)")
    assert page.evaluate("() => window.prism.selection()") == [followed]


def test_a_phone_sized_screen_has_the_whole_canvas_and_the_composer_in_a_drawer(new_page, stack):
    page = new_page(390, 844, is_mobile=True, has_touch=True)
    open_canvas(page, stack, "Phone")
    viewport = page.locator("#viewport").bounding_box()
    assert viewport["width"] >= 385 and viewport["height"] >= 700, viewport
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    expect(page.get_by_label("Prompt")).to_be_hidden()

    page.get_by_role("button", name="Ask").click()
    prompt = page.get_by_label("Prompt")
    expect(prompt).to_be_visible()
    expect(prompt).to_be_focused()
    box = prompt.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["y"] + box["height"] <= 844
    ask(page, "Hello from a phone.", {SWIFT: 1})
    expect(prompt).to_be_hidden()  # the question sent, the drawer closes on the answer
    [answer] = all_done(page, 1)
    card = node(page, answer).bounding_box()
    assert card["x"] < 390 and card["x"] + card["width"] > 0  # in sight

    page.keyboard.press("Enter")  # the composer's shortcut opens the drawer too
    expect(prompt).to_be_focused()
    page.get_by_role("button", name="Hide").click()
    expect(prompt).to_be_hidden()
    page.get_by_role("button", name="Zoom in").click()  # the toolbar stays within reach
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_the_other_pages_fit_a_phone_screen(new_page, stack):
    team = api(stack, "POST", "/canvases", json={"title": "Phone pages"})["team"]
    page = new_page(390, 844, is_mobile=True, has_touch=True)
    for path in ("/", "/teams/", f"/teams/{team}/", f"/teams/{team}/leaderboard/", "/accounts/", "/servers/"):
        page.goto(f"{stack.base_url}{path}")
        # Nothing pushes the page wider than the screen: the top bar scrolls inside itself, forms wrap,
        # a wide table scrolls inside its card.
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390, path
        brand = page.locator(".topbar .brand").bounding_box()
        assert brand["height"] < 30, path  # "◆ Prism" on one line


@pytest.mark.parametrize("width", [1440, 390])
def test_the_composer_checkboxes_sit_on_one_line_with_their_words(new_page, stack, width):
    page = new_page(width, 900)
    open_canvas(page, stack, f"Checkboxes at {width}")
    if width < 700:
        page.get_by_role("button", name="Ask").click()
    for label in ("Blind: hide the models until I vote", "blind by default on this canvas", "for the team"):
        checkbox = page.get_by_label(label)
        expect(checkbox).to_be_visible()
        box = checkbox.bounding_box()
        words = checkbox.locator("xpath=..").bounding_box()  # the label around the box and its words
        assert box["width"] < 24, (label, box)  # a box, not a field stretched across the composer
        assert words["height"] < 2 * box["height"] + 8, (label, words)  # one line: box and words side by side
        assert box["x"] - words["x"] < 4, (label, box, words)  # the box leads its words


def test_the_live_speed_of_a_models_first_answer_in_a_browser_agrees_with_the_final_figure(new_page, stack):
    # The model has answered before, elsewhere on the server; this browser has never seen it answer.
    earlier = api(stack, "POST", "/canvases", json={"title": "Elsewhere"})["id"]
    _, [elsewhere] = submit(stack, earlier, "Answer once.", ["sim-swift"])
    deadline = time.monotonic() + ANSWER_TIMEOUT_MS / 1000
    while api(stack, "GET", f"/nodes/{elsewhere}")["status"] != "done":
        assert time.monotonic() < deadline, "the earlier answer never finished"
        time.sleep(0.2)
    page = new_page()
    open_canvas(page, stack, "First answer here")
    assert page.evaluate("() => localStorage.getItem('prism.charsPerToken')") is None
    ask(page, "Go steadily, for the first time here.", {SWIFT: 1})
    expect(page.locator(".node-response")).to_have_count(1)  # the composer clears before the answer's card is in
    [running] = ids(page.locator(".node-response"))
    speed = node(page, running).locator("[data-metric=speed]")
    page.wait_for_function("(id) => (window.prism.node(id).text.match(/\\S+/g) || []).length >= 75", arg=running)
    live = float(re.search(r"~([\d.]+) tok/s", speed.text_content()).group(1))
    expect(node(page, running)).to_have_class(re.compile(r"\bstatus-done\b"), timeout=ANSWER_TIMEOUT_MS)
    final = api(stack, "GET", f"/nodes/{running}")["metrics"]["tokens_per_s"]
    assert abs(live - final) <= 0.1 * final, (live, final)
