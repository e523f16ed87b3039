"""Headless Chromium on the comparison page: three simulated answers as columns, a sortable metrics
table, a word diff of two answers, and the diff module itself."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.browser import ARTIFACTS, sign_in
from tests.stack import LiveStack, live_stack

pytestmark = pytest.mark.browser

ANSWER_TIMEOUT_S = 60.0
SIMULATED = ("sim-swift", "sim-steady", "sim-reasoner")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with live_stack("embedded", tmp_path_factory.mktemp("compare")) as stack:
        yield stack


@pytest.fixture
def page(browser, stack):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="module")
def answered(stack):
    """A prompt run on the three simulated models through the API, once every answer is done:
    (canvas id, prompt id, the final response nodes in column order)."""
    canvas_id, prompt_id, ids = submit(stack, "Compare the three of you.", SIMULATED)
    with stack.client() as api:
        responses = wait_until_finished(api, ids)
    assert [r["status"] for r in responses] == ["done"] * 3, stack.log_tails()
    return canvas_id, prompt_id, responses


def submit(stack: LiveStack, text: str, model_names) -> tuple[str, str, list[str]]:
    """Run a prompt on a new canvas: (canvas id, prompt id, response ids)."""
    with stack.client() as api:
        models = {m["model"]: m["id"] for m in api.get("/api/models").json()}
        canvas = api.post("/api/canvases", json={"title": "Compare"}).json()
        body = {"text": text, "models": [models[name] for name in model_names], "parents": []}
        submitted = api.post(f"/api/canvases/{canvas['id']}/prompts", json=body)
    assert submitted.status_code == 202, submitted.text
    payload = submitted.json()
    return canvas["id"], payload["prompt"]["id"], [node["id"] for node in payload["responses"]]


def wait_until_finished(api, ids: list[str]) -> list[dict]:
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while True:
        nodes = [api.get(f"/api/nodes/{node_id}").json() for node_id in ids]
        if all(node["status"] not in ("queued", "streaming") for node in nodes) or time.monotonic() > deadline:
            return nodes
        time.sleep(0.2)


def open_compare(page, stack: LiveStack, canvas_id: str, prompt_id: str, *, signed_in: bool = False) -> None:
    if not signed_in:
        sign_in(page, stack)
    page.goto(f"{stack.base_url}/canvases/{canvas_id}/compare/{prompt_id}/")
    expect(page.locator("#connection")).to_have_text("live")


def row_ids(page) -> list[str]:
    return [row.get_attribute("data-id") for row in page.locator("#metrics-table tbody tr").all()]


def test_each_answer_is_a_column_with_its_model_and_status(page, stack, answered):
    canvas_id, prompt_id, responses = answered
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda response: errors.append(response.url) if response.status >= 400 else None)
    open_compare(page, stack, canvas_id, prompt_id)

    expect(page.locator("#prompt-text")).to_have_text("Compare the three of you.")
    expect(page.get_by_role("link", name="Back to the canvas")).to_have_attribute("href", f"/canvases/{canvas_id}/")
    columns = page.locator(".column")
    expect(columns).to_have_count(3)
    for column, node in zip(columns.all(), responses, strict=True):
        assert column.get_attribute("data-id") == node["id"]
        expect(column.locator("[data-field=status]")).to_have_text("done")
        expect(column.locator("[data-field=simulated]")).to_be_visible()
        # The answer is rendered Markdown: paragraphs whose text is the stored text's words.
        expect(column.locator(".answer p").first).to_be_visible()
        assert node["text"].split()[0].strip("*") in column.locator(".answer").text_content()
    reasoner = columns.nth(2)
    expect(reasoner.locator("[data-field=title]")).to_contain_text("Reasoner")
    expect(reasoner.locator("details.reasoning")).to_be_visible()
    expect(reasoner.locator("details.reasoning")).not_to_have_attribute("open", "")
    # The reasoning is rendered Markdown too: its words, without the Markdown's marks.
    reasoning = responses[2]["reasoning"]
    expect(reasoner.locator("[data-field=reasoning]")).to_have_text(" ".join(reasoning.replace("**", "").split()))
    if "**" in reasoning:
        expect(reasoner.locator("[data-field=reasoning] strong").first).to_be_attached()
    expect(columns.nth(0).locator("details.reasoning")).to_be_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "compare.png", full_page=True)
    assert errors == []


def test_a_metric_header_sorts_the_table_both_ways(page, stack, answered):
    canvas_id, prompt_id, responses = answered
    open_compare(page, stack, canvas_id, prompt_id)
    expect(page.locator("#metrics-table tbody tr")).to_have_count(3)
    assert row_ids(page) == [node["id"] for node in responses]
    assert page.locator("#metrics-table tbody tr").first.locator("[data-key=cost]").text_content() == "no price"

    header = page.locator("#metrics-table th[data-key=output]")
    by_output = sorted(responses, key=lambda node: node["metrics"]["output_tokens"])
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    assert row_ids(page) == [node["id"] for node in by_output]
    shown = [int(cell.text_content()) for cell in page.locator("#metrics-table td[data-key=output]").all()]
    assert shown == sorted(shown)

    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    assert row_ids(page) == [node["id"] for node in reversed(by_output)]


def test_two_answers_are_diffed_word_by_word(page, stack, answered):
    canvas_id, prompt_id, responses = answered
    swift, steady, _ = responses
    open_compare(page, stack, canvas_id, prompt_id)

    page.get_by_label("Response A").select_option(swift["id"])
    page.get_by_label("Response B").select_option(steady["id"])

    diff = page.locator("#diff")
    expect(diff.locator("ins").first).to_be_visible()
    expect(diff.locator("del").first).to_be_visible()
    # Without its insertions the diff reads as A; without its deletions, as B.
    without = "(tag) => [...document.getElementById('diff').childNodes].filter((n) => n.nodeName !== tag)"
    assert page.evaluate(f"{without}.map((n) => n.textContent).join('')", "INS") == swift["text"]
    assert page.evaluate(f"{without}.map((n) => n.textContent).join('')", "DEL") == steady["text"]


def test_the_page_follows_answers_while_they_stream(page, stack):
    sign_in(page, stack)
    canvas_id, prompt_id, (steady_id, swift_id) = submit(stack, "Stream to me.", ["sim-steady", "sim-swift"])
    open_compare(page, stack, canvas_id, prompt_id, signed_in=True)

    steady = page.locator(f"#column-{steady_id}")
    # Steady takes seconds to answer: the page opens while it streams, and follows it to the end.
    expect(steady.locator("[data-field=status]")).to_have_text("streaming")
    expect(steady.locator("[data-field=status]")).to_have_text("done", timeout=int(ANSWER_TIMEOUT_S * 1000))
    expect(page.locator(f"#column-{swift_id} [data-field=status]")).to_have_text("done")
    with stack.client() as api:
        stored = api.get(f"/api/nodes/{steady_id}").json()
    # Snapshot and deltas add up to the stored text exactly: diffed with itself, it is one equal run.
    page.get_by_label("Response A").select_option(steady_id)
    page.get_by_label("Response B").select_option(steady_id)
    expect(page.locator("#diff")).to_have_text(stored["text"], use_inner_text=False)
    expect(page.locator("#diff ins, #diff del")).to_have_count(0)
    assert steady.get_attribute("data-seq") == str(stored["seq"])
    row = page.locator(f"#metrics-table tr[data-id='{steady_id}']")
    expect(row.locator("[data-key=output]")).to_have_text(str(stored["metrics"]["output_tokens"]))
    expect(row.locator("[data-key=cost]")).to_have_text("no price")


def test_many_answers_scroll_sideways_inside_their_row(page, stack):
    sign_in(page, stack)
    canvas_id, prompt_id, ids = submit(stack, "All of you at once.", ["sim-swift"] * 9)
    open_compare(page, stack, canvas_id, prompt_id, signed_in=True)

    expect(page.locator(".column")).to_have_count(9)
    row = page.locator("#columns")
    assert row.evaluate("(row) => row.scrollWidth > row.clientWidth")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    expect(page.get_by_label("Response B").locator("option")).to_have_count(9)
    with stack.client() as api:
        wait_until_finished(api, ids)  # leave no run behind for the next test


def test_the_diff_module_finds_the_smallest_word_change(page, stack):
    page.goto(f"{stack.base_url}/accounts/login/")
    cases = page.evaluate(
        """async () => {
            const { diffWords } = await import("/static/prism/diff.js");
            return {
                same: diffWords("The sky is blue.", "The sky is blue."),
                oneWord: diffWords("The sky is blue.", "The sky is grey."),
                fromEmpty: diffWords("", "Some text"),
                toEmpty: diffWords("Some text", ""),
                empty: diffWords("", ""),
                html: diffWords("<b>x</b>", "<i>x</i>"),
            };
        }"""
    )
    assert cases["same"] == [{"op": "equal", "text": "The sky is blue."}]
    assert cases["oneWord"] == [
        {"op": "equal", "text": "The sky is "},
        {"op": "delete", "text": "blue"},
        {"op": "insert", "text": "grey"},
        {"op": "equal", "text": "."},
    ]
    assert cases["fromEmpty"] == [{"op": "insert", "text": "Some text"}]
    assert cases["toEmpty"] == [{"op": "delete", "text": "Some text"}]
    assert cases["empty"] == []
    assert "".join(part["text"] for part in cases["html"] if part["op"] != "insert") == "<b>x</b>"
    assert "".join(part["text"] for part in cases["html"] if part["op"] != "delete") == "<i>x</i>"
