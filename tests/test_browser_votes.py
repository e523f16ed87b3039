"""Headless Chromium: a blind prompt on the canvas shows its answers as "Answer A", "Answer B" with no
model, provider, cost or speed anywhere in the nodes until the person votes (two answers selected, key
1–4), then names the models; on the compare page a blind prompt's columns are labelled until a vote
(key B) brings the models, and a judge model asked there lists its votes apart, revealing nothing."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser import SWIFT, choose, sign_in
from tests.stack import LiveStack, django_shell, live_stack

pytestmark = pytest.mark.browser

ANSWER_TIMEOUT_MS = 60_000
REASONER = "Simulator · Reasoner"
# What would tell the two simulated models apart, in any text or attribute of the nodes.
NAMES = (SWIFT, REASONER, "sim-swift", "sim-reasoner", "Swift", "Reasoner")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with live_stack("embedded", tmp_path_factory.mktemp("votes")) as stack:
        yield stack


@pytest.fixture
def page(browser, stack):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    sign_in(page, stack)
    yield page
    context.close()


def new_canvas(stack: LiveStack, title: str) -> str:
    with stack.client() as api:
        response = api.post("/api/canvases", json={"title": title})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def team_of(stack: LiveStack, canvas_id: str) -> str:
    with stack.client() as api:
        return api.get(f"/api/canvases/{canvas_id}").json()["team"]


def assert_names_none(html: str) -> None:
    for name in NAMES:
        assert name not in html, f"{name!r} shows before the vote"


def test_a_blind_prompt_on_the_canvas_shows_labels_until_one_votes(page: Page, stack: LiveStack):
    canvas_id = new_canvas(stack, "Blind tasting")
    with stack.client() as api:
        board = api.get(f"/api/teams/{team_of(stack, canvas_id)}/leaderboard").json()
    assert board["models"] == []
    page.goto(f"{stack.base_url}/canvases/{canvas_id}/")
    expect(page.locator("#connection")).to_have_text("live")
    choose(page, {SWIFT: 1, REASONER: 1})
    page.locator("#prompt-blind").check()
    page.get_by_label("Prompt").fill("Which of you writes the better haiku?")
    page.get_by_role("button", name="Run").click()

    done = page.locator(".node-response.status-done")
    expect(done).to_have_count(2, timeout=ANSWER_TIMEOUT_MS)
    titles = page.locator(".node-response .node-title")
    assert sorted(titles.all_inner_texts()) == ["Answer A", "Answer B"]
    assert_names_none(page.locator("#nodes").inner_html())
    ids = [element.get_attribute("data-id") for element in done.all()]
    for node_id in ids:
        node = page.evaluate("(id) => window.prism.node(id)", node_id)
        assert node["model"] is None and node["cost"] is None and node["metrics"]["tokens_per_s"] is None
    expect(page.locator(".node-prompt .node-title")).to_have_text("Prompt (blind)")

    page.locator(f"#node-{ids[0]} .node-head").click()
    page.locator(f"#node-{ids[1]} .node-head").click(modifiers=["Shift"])
    expect(page.locator("#vote-bar")).to_be_visible()
    expect(page.locator("#vote-bar [data-field=pair]")).to_contain_text("Answer")
    page.keyboard.press("3")  # a tie

    expect(page.locator("#toast")).to_have_text("Vote saved.")
    expect(page.locator(".node-response .node-title", has_text=SWIFT)).to_have_count(1)
    expect(page.locator(".node-response .node-title", has_text=REASONER)).to_have_count(1)
    expect(page.locator(".node-prompt .votes-mine")).to_contain_text("Your vote:")
    expect(page.locator(".node-prompt .votes-summary")).to_contain_text(f"1 vote by {stack.username}")
    for node_id in ids:
        assert page.evaluate("(id) => window.prism.node(id).model", node_id) is not None

    # The vote reaches the team's leaderboard, which had nothing to rank before it.
    page.goto(f"{stack.base_url}/teams/{team_of(stack, canvas_id)}/leaderboard/")
    expect(page.locator("#board-summary")).to_contain_text("1 vote")
    names = page.locator("#board-table tbody tr td:first-child")
    expect(names).to_have_count(2)
    assert sorted(name.strip().removesuffix(" (simulated)") for name in names.all_inner_texts()) == [REASONER, SWIFT]


def blind_prompt_answered(stack: LiveStack, canvas_id: str) -> str:
    """A blind prompt with two finished answers, by the simulator's Swift and Reasoner; its id."""
    with stack.client() as api:
        models = {m["model"]: m["id"] for m in api.get("/api/models").json()}
        body = {"text": "Name a colour.", "models": [models["sim-swift"], models["sim-reasoner"]], "blind": True}
        submitted = api.post(f"/api/canvases/{canvas_id}/prompts", json=body).json()
        prompt_id = submitted["prompt"]["id"]
        deadline = time.monotonic() + ANSWER_TIMEOUT_MS / 1000
        while time.monotonic() < deadline:
            nodes = [api.get(f"/api/nodes/{r['id']}").json() for r in submitted["responses"]]
            if all(n["status"] == "done" for n in nodes):
                break
            time.sleep(0.2)
    return prompt_id


def test_the_compare_page_labels_blind_answers_until_one_picks_the_best(page: Page, stack: LiveStack):
    canvas_id = new_canvas(stack, "Blind compare")
    prompt_id = blind_prompt_answered(stack, canvas_id)
    page.goto(f"{stack.base_url}/canvases/{canvas_id}/compare/{prompt_id}/")
    expect(page.locator("#connection")).to_have_text("live")

    expect(page.locator(".column")).to_have_count(2)
    assert sorted(page.locator(".column [data-field=title]").all_inner_texts()) == ["Answer A", "Answer B"]
    assert_names_none(page.locator("#columns").inner_html() + page.locator("#metrics-table").inner_html())
    assert_names_none(page.locator("#compare-data").inner_text())
    expect(page.locator("#votes-blind")).to_be_visible()
    page.keyboard.press("b")  # response A (the first column) is the best

    expect(page.locator("#votes-list li")).to_have_count(1)
    expect(page.locator(".column [data-field=title]", has_text=SWIFT)).to_have_count(1)
    expect(page.locator(".column [data-field=title]", has_text=REASONER)).to_have_count(1)
    expect(page.locator("#votes-list li").first).to_contain_text("(you)")
    expect(page.locator("#votes-blind")).to_be_hidden()


# A judge model that always says "tie", on an account of its own at the stack's simulator.
_JUDGE = """
from providers.models import Model, ProviderAccount
source = Model.objects.get(name="sim-swift").account
account, _ = ProviderAccount.objects.get_or_create(
    name="Judge bench", defaults={"kind": source.kind, "base_url": source.base_url,
                                  "api_key_encrypted": source.api_key_encrypted})
params = {"simulator": {"ttft_ms": 0, "tokens_per_s": 0, "text": "RATIONALE: Both are crisp.\\nVERDICT: tie"}}
Model.objects.get_or_create(account=account, name="sim-steady",
                            defaults={"display_name": "Judge Judy", "default_params": params, "position": 99})
"""


def test_a_judge_asked_on_the_compare_page_votes_apart_and_reveals_nothing(page: Page, stack: LiveStack):
    django_shell(stack.env, _JUDGE)
    canvas_id = new_canvas(stack, "Judged compare")
    prompt_id = blind_prompt_answered(stack, canvas_id)
    page.goto(f"{stack.base_url}/canvases/{canvas_id}/compare/{prompt_id}/")
    expect(page.locator("#connection")).to_have_text("live")

    page.locator("#judge-ask summary").click()
    page.locator("#judge-model").select_option(label="Judge Judy")
    page.locator("#judge-rubric").fill("Shorter is better.")
    page.locator("#judge-go").click()

    judged = page.locator("#judge-votes li")
    expect(judged).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
    expect(judged).to_contain_text("Judged by Judge Judy: Answer")
    expect(judged).to_contain_text("Both are crisp.")
    expect(page.locator("#votes-list li")).to_have_count(0)
    # The judge's vote is not the person's: the answers stay labelled.
    assert sorted(page.locator(".column [data-field=title]").all_inner_texts()) == ["Answer A", "Answer B"]
    expect(page.locator("#votes-blind")).to_be_visible()
