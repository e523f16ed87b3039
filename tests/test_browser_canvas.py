"""Headless Chromium on the canvas: branching, merging, notes, reruns, regenerating, stopping, moving
nodes, and Markdown that cannot run code. One live embedded stack serves the whole module."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser import SWIFT, api, choose
from tests.stack import LiveStack, django_shell, live_stack

pytestmark = pytest.mark.browser

ANSWER_TIMEOUT_MS = 60_000
STEADY = "Simulator · Steady"
REASONER = "Simulator · Reasoner"

# Steady answers slowly and at length on this stack, so there is time to stop it mid-stream.
_SLOW_STEADY = """
from providers.models import Model
Model.objects.filter(name="sim-steady").update(default_params={"simulator": {"tokens_per_s": 6, "length": 3000}})
"""

# Markdown with every way we know to smuggle code in: each must end up inert.
HOSTILE_MARKDOWN = """# Shopping list

Some **bold** words and a [safe link](https://example.com/).

<script>window.__pwned = "script"</script>
<img src="x" onerror="window.__pwned = 'img'">
[click me](javascript:window.__pwned='link')
<a href="javascript:window.__pwned='anchor'">anchor</a>
<svg onload="window.__pwned='svg'"></svg>

```python
def answer():
    return 42
```

```js
const unclosed = "a fence left open must not break the page";"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with live_stack("embedded", tmp_path_factory.mktemp("canvas-ui")) as stack:
        django_shell(stack.env, _SLOW_STEADY)
        yield stack


# --- helpers --------------------------------------------------------------------------------------


def open_canvas(page: Page, stack: LiveStack, title: str) -> str:
    canvas_id = api(stack, "POST", "/canvases", json={"title": title})["id"]
    visit(page, stack, canvas_id)
    return canvas_id


def visit(page: Page, stack: LiveStack, canvas_id: str) -> None:
    page.goto(f"{stack.base_url}/canvases/{canvas_id}/")
    expect(page.locator("#connection")).to_have_text("live")


def ask(page: Page, text: str, counts: dict[str, int]) -> None:
    choose(page, counts)
    page.get_by_label("Prompt").fill(text)
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_label("Prompt")).to_have_value("")


def node(page: Page, node_id: str):
    return page.locator(f"#node-{node_id}")


def prompts(page: Page):
    return page.locator(".node-prompt")


def ids(locator) -> list[str]:
    return [element.get_attribute("data-id") for element in locator.all()]


def all_done(page: Page, count: int) -> list[str]:
    expect(page.locator(".node-response.status-done")).to_have_count(count, timeout=ANSWER_TIMEOUT_MS)
    return ids(page.locator(".node-response"))


def stored(stack: LiveStack, node_id: str) -> dict:
    return api(stack, "GET", f"/nodes/{node_id}")


def preview_messages(page: Page) -> list[str]:
    preview = page.locator("#context-preview")
    if not preview.evaluate("element => element.open"):
        page.get_by_text("Context preview").click()
    expect(preview.locator("[data-field=status]")).to_contain_text("message(s)")
    return preview.locator(".message-text").all_text_contents()


# --- tests ----------------------------------------------------------------------------------------


def test_following_up_one_answer_leaves_its_siblings_out(page, stack):
    open_canvas(page, stack, "Branch")
    ask(page, "Name a colour.", {SWIFT: 1, REASONER: 1})
    first, sibling = all_done(page, 2)
    first_text, sibling_text = stored(stack, first)["text"], stored(stack, sibling)["text"]

    node(page, first).get_by_role("button", name="Follow up").click()
    expect(page.locator("#following")).to_contain_text("Following up 1 node(s)")
    page.get_by_label("Prompt").fill("Why that one?")
    messages = preview_messages(page)
    assert "Name a colour." in messages[-3]
    assert messages[-2] == first_text
    assert messages[-1] == "Why that one?"
    assert not any(sibling_text in message for message in messages)

    page.get_by_role("button", name="Run").click()
    expect(prompts(page)).to_have_count(2)
    follow_up = ids(prompts(page))[-1]
    assert stored(stack, follow_up)["parents"] == [first]


def test_following_up_two_selected_answers_merges_them(page, stack):
    open_canvas(page, stack, "Merge")
    ask(page, "Two views, please.", {SWIFT: 2})
    left, right = all_done(page, 2)

    node(page, left).locator(".node-head").click()
    node(page, right).locator(".node-head").click(modifiers=["Shift"])
    expect(page.locator(".node.selected")).to_have_count(2)
    expect(page.locator("#following")).to_contain_text("Following up 2 node(s)")
    ask(page, "Reconcile them.", {SWIFT: 1})

    expect(prompts(page)).to_have_count(2)
    merged = ids(prompts(page))[-1]
    assert sorted(stored(stack, merged)["parents"]) == sorted([left, right])
    expect(page.locator(".node.selected")).to_have_count(0)


def test_a_box_drawn_with_shift_selects_the_nodes_it_touches(page, stack):
    canvas_id = api(stack, "POST", "/canvases", json={"title": "Box"})["id"]
    notes = [
        api(stack, "POST", f"/canvases/{canvas_id}/notes", json={"text": f"Note {i}", "x": 400 * i, "y": 0})["id"]
        for i in range(3)
    ]
    visit(page, stack, canvas_id)
    first, second = node(page, notes[0]).bounding_box(), node(page, notes[1]).bounding_box()

    page.keyboard.down("Shift")
    page.mouse.move(first["x"] - 20, first["y"] + first["height"] + 30)
    page.mouse.down()
    page.mouse.move(second["x"] + 20, second["y"] + 20, steps=6)
    page.mouse.up()
    page.keyboard.up("Shift")

    assert sorted(page.evaluate("window.prism.selection()")) == sorted(notes[:2])
    page.keyboard.press("Control+a")
    expect(page.locator(".node.selected")).to_have_count(3)
    page.keyboard.press("Escape")
    expect(page.locator(".node.selected")).to_have_count(0)


def test_regenerating_adds_a_sibling_answer_that_finishes(page, stack):
    open_canvas(page, stack, "Regenerate")
    ask(page, "Say something.", {SWIFT: 1})
    [original] = all_done(page, 1)

    node(page, original).get_by_role("button", name="Regenerate").click()
    all_done(page, 2)
    [again] = [i for i in ids(page.locator(".node-response")) if i != original]
    assert stored(stack, again)["parents"] == stored(stack, original)["parents"]
    assert stored(stack, again)["model"] == stored(stack, original)["model"]
    expect(page.locator("#canvas-cost")).to_contain_text("2 without a price")


def test_editing_a_question_runs_it_again_as_a_new_branch(page, stack):
    open_canvas(page, stack, "Rerun")
    ask(page, "First wording.", {SWIFT: 1})
    all_done(page, 1)
    [old] = ids(prompts(page))

    node(page, old).get_by_role("button", name="Edit").click()
    expect(page.locator("#rerun-banner")).to_be_visible()
    expect(page.get_by_label("Prompt")).to_have_value("First wording.")
    page.get_by_label("Prompt").fill("Second wording.")
    page.get_by_role("button", name="Run as a new branch").click()

    all_done(page, 2)
    new = [i for i in ids(prompts(page)) if i != old][0]
    assert stored(stack, new)["text"] == "Second wording."
    assert stored(stack, old)["text"] == "First wording."
    assert stored(stack, new)["parents"] == stored(stack, old)["parents"]


def test_stopping_keeps_the_partial_text_and_a_question_stops_its_whole_fan_out(page, stack):
    open_canvas(page, stack, "Stop")
    ask(page, "Tell me a very long story.", {STEADY: 2})
    expect(page.locator(".node-response")).to_have_count(2)
    one, other = ids(page.locator(".node-response"))
    for response in (one, other):
        expect(node(page, response)).to_have_class(re.compile(r"\bstatus-streaming\b"), timeout=ANSWER_TIMEOUT_MS)
    expect(node(page, one).locator("[data-field=text]")).not_to_have_text("")

    node(page, one).get_by_role("button", name="Stop").click()
    expect(node(page, one)).to_have_class(re.compile(r"\bstatus-cancelled\b"))
    expect(node(page, other)).to_have_class(re.compile(r"\bstatus-streaming\b"))
    kept = stored(stack, one)
    assert kept["status"] == "cancelled"
    assert kept["text"] and kept["text"] == page.evaluate("(id) => window.prism.node(id).text", one)

    [question] = ids(prompts(page))
    node(page, question).locator(".node-head").click()
    page.keyboard.press(".")
    expect(node(page, other)).to_have_class(re.compile(r"\bstatus-cancelled\b"))
    assert stored(stack, other)["status"] == "cancelled"


def test_a_dragged_node_keeps_its_place_and_others_see_it_move(new_page, stack):
    page, watcher = new_page(), new_page()
    canvas_id = open_canvas(page, stack, "Drag")
    page.get_by_role("button", name="Note").click()
    editor = page.get_by_label("Note text")
    editor.fill("Move me.")
    editor.press("Control+Enter")
    [note] = ids(page.locator(".node-note"))
    expect(node(page, note).locator("[data-field=text]")).to_have_text("Move me.")
    visit(watcher, stack, canvas_id)
    before = stored(stack, note)
    watched = node(watcher, note).bounding_box()

    head = node(page, note).locator(".node-head").bounding_box()
    page.mouse.move(head["x"] + 40, head["y"] + head["height"] / 2)
    page.mouse.down()
    page.mouse.move(head["x"] + 140, head["y"] + 80, steps=8)
    page.mouse.move(head["x"] + 240, head["y"] + 120, steps=8)
    page.mouse.up()

    # The watcher's copy moves too (node.updated), then the server's copy is where it was dropped.
    expect(node(watcher, note)).not_to_have_attribute("style", re.compile(rf"translate\({before['x']:g}px"))
    moved = stored(stack, note)
    assert (moved["x"], moved["y"]) != (before["x"], before["y"])
    assert node(watcher, note).bounding_box()["x"] > watched["x"]

    page.reload()
    expect(page.locator("#connection")).to_have_text("live")
    style = node(page, note).get_attribute("style")
    assert f"translate({moved['x']:g}px, {moved['y']:g}px)" in style

    # Arrow keys nudge the selection; the watcher sees that too, once the keys rest.
    node(page, note).locator(".node-head").click()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    nudged = f"translate({moved['x'] + 20:g}px, {moved['y']:g}px)"
    expect(node(watcher, note)).to_have_attribute("style", re.compile(re.escape(nudged)))


def test_the_canvas_pans_and_zooms_around_the_pointer(page, stack):
    canvas_id = api(stack, "POST", "/canvases", json={"title": "Pan and zoom"})["id"]
    notes = [
        api(stack, "POST", f"/canvases/{canvas_id}/notes", json={"text": "Here.", "x": x, "y": y})["id"]
        for x, y in ((0, 0), (700, 500))
    ]
    visit(page, stack, canvas_id)
    zoom = page.locator("#zoom-level")
    page.keyboard.press("0")
    expect(zoom).to_have_text("100%")
    note = node(page, notes[0])
    box = note.bounding_box()

    # Ctrl+wheel zooms in around the pointer: the point under it stays under it.
    px, py = box["x"] + 60, box["y"] + 40
    page.mouse.move(px, py)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -240)
    page.keyboard.up("Control")
    expect(zoom).not_to_have_text("100%")
    zoomed = note.bounding_box()
    assert zoomed["width"] > box["width"]
    assert abs((px - zoomed["x"]) / zoomed["width"] - (px - box["x"]) / box["width"]) < 0.02
    assert abs((py - zoomed["y"]) / zoomed["height"] - (py - box["y"]) / box["height"]) < 0.02

    # The wheel over the background pans; so does dragging the background.
    x, y = empty_spot(page)
    page.mouse.move(x, y)
    page.mouse.wheel(0, 120)
    moved_up = f"document.getElementById('node-{notes[0]}').getBoundingClientRect().y < {zoomed['y'] - 100}"
    page.wait_for_function(moved_up)
    before = note.bounding_box()
    x, y = empty_spot(page)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 80, y + 60, steps=5)
    page.mouse.up()
    dragged = f"document.getElementById('node-{notes[0]}').getBoundingClientRect().x > {before['x'] + 70}"
    page.wait_for_function(dragged)

    # Fit to view brings every node on screen; the buttons zoom.
    page.keyboard.press("f")
    view = page.locator("#viewport").bounding_box()
    for note_id in notes:
        expect(node(page, note_id)).to_be_in_viewport()
        b = node(page, note_id).bounding_box()
        assert view["x"] <= b["x"] and b["x"] + b["width"] <= view["x"] + view["width"]
        assert view["y"] <= b["y"] and b["y"] + b["height"] <= view["y"] + view["height"]
    fitted = zoom.text_content()
    page.get_by_role("button", name="Zoom in").click()
    expect(zoom).not_to_have_text(fitted)


def empty_spot(page: Page) -> tuple[float, float]:
    """A point of the canvas's background with no node, toolbar or edge under it."""
    spot = page.evaluate("""() => {
        const box = document.getElementById("viewport").getBoundingClientRect();
        for (let y = box.top + 20; y < box.bottom - 60; y += 25) {
            for (let x = box.left + 20; x < box.right - 20; x += 25) {
                if (document.elementFromPoint(x, y)?.id === "viewport") return [x, y];
            }
        }
        return null;
    }""")
    assert spot, "no empty background on screen"
    return spot[0], spot[1]


def test_markdown_is_rendered_and_html_in_it_never_runs(page, stack):
    open_canvas(page, stack, "Hostile")
    page.get_by_role("button", name="Note").click()
    page.get_by_label("Note text").fill(HOSTILE_MARKDOWN)
    page.get_by_label("Note text").press("Control+Enter")
    [note] = ids(page.locator(".node-note"))
    text = node(page, note).locator("[data-field=text]")

    expect(text.locator("h1")).to_have_text("Shopping list")
    expect(text.locator("strong")).to_have_text("bold")
    expect(text.locator("pre code.language-python .hljs-keyword").first).to_have_text("def")
    expect(text.locator("pre code", has_text="a fence left open")).to_have_count(1)
    assert stored(stack, note)["text"] == HOSTILE_MARKDOWN
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    node(page, note).get_by_role("button", name="Copy").click()
    expect(page.locator("#toast")).to_have_text("Copied the Markdown.")
    assert page.evaluate("navigator.clipboard.readText()") == HOSTILE_MARKDOWN

    # The same text as a question, rendered the same way.
    ask(page, HOSTILE_MARKDOWN, {SWIFT: 1})
    expect(prompts(page)).to_have_count(1)
    [question] = ids(prompts(page))
    expect(node(page, question).locator("[data-field=text] h1")).to_have_text("Shopping list")

    for rendered in (text, node(page, question).locator("[data-field=text]")):
        assert rendered.locator("script, img[onerror], svg, [onload], [onerror]").count() == 0
        hrefs = [a.get_attribute("href") or "" for a in rendered.locator("a").all()]
        assert "https://example.com/" in hrefs
        assert not any(href.strip().lower().startswith("javascript:") for href in hrefs)
    for rendered in (text, node(page, question).locator("[data-field=text]")):
        rendered.get_by_text("click me").click()
    assert page.evaluate("window.__pwned") is None
    expect(page.locator("#connection")).to_have_text("live")


def test_the_help_panel_lists_the_shortcuts(page, stack):
    open_canvas(page, stack, "Help")
    page.keyboard.press("?")
    help_panel = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_panel).to_be_visible()
    expect(help_panel).to_contain_text("Fit to view")
    page.keyboard.press("Escape")
    expect(help_panel).to_be_hidden()


# A provider that takes one request at a time: the second answer waits for its slot.
_ONE_SLOT = """
from django.conf import settings
from providers.models import Model, ProviderAccount
account = ProviderAccount(
    name="One-slot simulator", kind="simulator", base_url=settings.PRISM_SIMULATOR_URL, max_concurrency=1
)
account.set_api_key(settings.PRISM_SIMULATOR_KEY)  # the built-in simulator answers the app's own key
account.save()
Model.objects.create(
    account=account, name="sim-steady", display_name="One slot · Steady",
    default_params={"simulator": {"tokens_per_s": 6, "length": 3000}},
)
"""


def test_an_answer_waiting_for_a_provider_slot_says_so(page, stack):
    django_shell(stack.env, _ONE_SLOT)
    open_canvas(page, stack, "One slot")
    ask(page, "Tell me a very long story.", {"One slot · Steady": 2})
    answers = page.locator(".node-response")
    expect(answers).to_have_count(2)

    statuses = answers.locator("[data-field=status]")
    expect(statuses.filter(has_text="waiting for a slot at One-slot simulator")).to_have_count(1)
    expect(statuses.filter(has_text=re.compile(r"^streaming$"))).to_have_count(1)

    [question] = ids(prompts(page))
    node(page, question).locator(".node-head").click()
    page.keyboard.press(".")
    expect(answers.locator("[data-field=status]").filter(has_text=re.compile(r"^cancelled$"))).to_have_count(2)


# Two finished answers of a model with no price: one used tokens (no price, so no cost known), one failed
# before using any (it cost nothing at any price). Emits "canvas prompt used failed".
_NO_PRICE = """
from canvas.models import Canvas, Edge, Membership, Node
from providers.models import Model

team = Membership.objects.get(user__username="u", team__personal=True).team
canvas = Canvas.objects.create(team=team, title="No price", created_by=team.memberships.get().user)
swift = Model.objects.get(name="sim-swift")
prompt = Node.objects.create(canvas=canvas, kind="prompt", text="Which?", created_by=canvas.created_by)
common = dict(canvas=canvas, kind="response", model=swift, created_by=canvas.created_by, billed_team=team)
used = Node.objects.create(**common, status="done", text="An answer.", input_tokens=40, output_tokens=12, x=0)
failed = Node.objects.create(**common, status="error", error_code="auth", input_tokens=0, output_tokens=0, x=400)
Edge.objects.bulk_create([Edge(parent=prompt, child=used, position=0), Edge(parent=prompt, child=failed, position=0)])
emit(" ".join(str(n.id) for n in (canvas, prompt, used, failed)))
"""


def test_an_answer_that_used_no_tokens_costs_nothing_and_only_one_that_did_has_no_price(page, stack):
    canvas_id, prompt_id, used, failed = django_shell(stack.env, _NO_PRICE).split()
    visit(page, stack, canvas_id)

    expect(node(page, used).locator("[data-metric=cost]")).to_have_text("no price")
    expect(node(page, failed).locator("[data-metric=cost]")).to_have_text("$0")
    expect(page.locator("#canvas-cost [data-field=unpriced]")).to_have_text("(1 without a price)")

    page.goto(f"{stack.base_url}/canvases/{canvas_id}/compare/{prompt_id}/")
    expect(page.locator(f"#metrics-table tr[data-id='{used}'] [data-key=cost]")).to_have_text("no price")
    expect(page.locator(f"#metrics-table tr[data-id='{failed}'] [data-key=cost]")).to_have_text("$0")
