"""Two people on one canvas in headless Chromium: the owner invites a viewer through the team page (the
viewer signs up from the invitation, by a link mailed to them), both open the canvas, the owner asks
two models, and both watch the same answers stream in. The viewer has no composer and is refused by
the API; each sees the other; a comment travels between them; and a share link shows the canvas,
live, to a third browser signed in as nobody."""

from __future__ import annotations

import re
import secrets

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import ARTIFACTS, ask, open_new_canvas, shown_text, sign_in, stored_text
from tests.stack import LiveStack, live_stack

pytestmark = pytest.mark.browser


ANSWER_TIMEOUT_MS = 60_000
MODELS = ["Simulator · Swift", "Simulator · Reasoner"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with live_stack("embedded", tmp_path_factory.mktemp("browser-team")) as stack:
        yield stack


def new_page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    return context.new_page()


def sign_up_by_invitation(page: Page, stack: LiveStack, invitation: str, username: str, password: str) -> None:
    """Someone new follows an invitation: the sign-in page offers an account; they give an address, open
    the link mailed to it, choose a username and password, and are back at the invitation."""
    address = f"{username}@example.com"
    page.goto(invitation)
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email").fill(address)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    [mail] = stack.mail_to(address)
    page.goto(re.search(r"http://\S+/accounts/signup/finish/\S+/", mail).group(0))
    expect(page.get_by_text(f"For {address}.")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password confirmation").fill(password)
    page.get_by_role("button", name="Create the account").click()
    expect(page.get_by_role("heading", name=re.compile("^Join "))).to_be_visible()


def invite_link(page: Page, base_url: str, role: str) -> str:
    """From the owner's personal team page: a new invitation link for `role`."""
    page.goto(f"{base_url}/teams/")
    page.locator(".team-list a").first.click()
    page.locator("form[action$='/invites'] select[name=role]").select_option(role)
    page.get_by_role("button", name="Create invitation link").click()
    return page.get_by_label("Invitation link").input_value()


def presence_names(page: Page) -> list[str]:
    return sorted(page.locator("#presence .presence-chip").evaluate_all("chips => chips.map(c => c.dataset.name)"))


def test_two_people_watch_the_same_answers_stream(browser, stack):
    owner, viewer = new_page(browser), new_page(browser)
    sign_in(owner, stack)
    invitation = invite_link(owner, stack.base_url, "viewer")
    sign_up_by_invitation(viewer, stack, invitation, "vera", secrets.token_urlsafe(12))
    viewer.get_by_role("button", name="Join the team").click()
    expect(viewer.locator(".message.success")).to_contain_text("as viewer")

    owner.goto(f"{stack.base_url}/")
    open_new_canvas(owner, "Team canvas")
    canvas_url = owner.url
    viewer.goto(canvas_url)
    expect(viewer.locator("#connection")).to_have_text("live")

    # Each sees the other, by name.
    for page in (owner, viewer):
        expect(page.locator("#presence .presence-chip")).to_have_count(2)
        assert presence_names(page) == ["u", "vera"]

    # The viewer can watch but not ask: no composer, and the API refuses a direct request.
    expect(viewer.locator("#prompt-form")).to_have_count(0)
    refused = viewer.evaluate(
        """async ([canvasId, modelId]) => {
            const response = await fetch(`/api/canvases/${canvasId}/prompts`, {
                method: "POST",
                headers: {"Content-Type": "application/json",
                          "X-CSRFToken": document.querySelector("meta[name=csrf-token]").content},
                body: JSON.stringify({text: "Let me in", models: [modelId]}),
            });
            return [response.status, await response.json()];
        }""",
        [canvas_url.rstrip("/").split("/")[-1], _model_id(stack, "sim-swift")],
    )
    assert refused[0] == 403 and refused[1]["error"]["code"] == "forbidden"

    ask(owner, "Why is the sky blue?", MODELS)

    for page in (owner, viewer):
        expect(page.locator(".node-response.status-done")).to_have_count(2, timeout=ANSWER_TIMEOUT_MS)
    for response in owner.locator(".node-response").all():
        node_id = response.get_attribute("data-id")
        text = shown_text(owner, node_id)
        assert text and text == shown_text(viewer, node_id) == stored_text(stack, node_id)

    # A viewer may comment; the owner sees it arrive.
    answer = viewer.locator(".node-response").first
    answer.get_by_role("button", name="Comment").click()
    answer.get_by_label("Comment").fill("The reasoner explains it better.")
    answer.get_by_role("button", name="Send").click()
    twin = owner.locator(f"#node-{answer.get_attribute('data-id')}")
    expect(twin.locator(".comments-toggle")).to_have_text("Comments (1)")
    twin.locator(".comments-toggle").click()
    expect(twin.locator(".comment-text")).to_have_text("The reasoner explains it better.")

    ARTIFACTS.mkdir(exist_ok=True)
    viewer.screenshot(path=ARTIFACTS / "team-viewer.png")

    # Someone leaving is gone from the other's presence.
    viewer.context.close()
    expect(owner.locator("#presence .presence-chip")).to_have_count(1)
    owner.context.close()


def test_a_share_link_shows_the_canvas_live_to_a_guest(browser, stack):
    owner = new_page(browser)
    sign_in(owner, stack)
    open_new_canvas(owner, "Shared canvas")
    canvas_id = owner.url.rstrip("/").split("/")[-1]
    made = httpx.post(f"{stack.base_url}/api/canvases/{canvas_id}/share-links", headers=stack.headers, json={})
    assert made.status_code == 201, made.text

    guest = new_page(browser)
    guest.goto(made.json()["url"])
    expect(guest.locator("#connection")).to_have_text("live")
    expect(owner.locator("#presence .presence-chip.guest")).to_have_count(1)
    expect(guest.locator("#prompt-form")).to_have_count(0)

    ask(owner, "Say hello.", MODELS[:1])

    expect(guest.locator(".node-response.status-done")).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
    node_id = guest.locator(".node-response").get_attribute("data-id")
    assert shown_text(guest, node_id) == stored_text(stack, node_id)
    assert guest.request.get(f"{stack.base_url}/api/canvases/{canvas_id}").status == 401

    # Revoked: the open page is cut off at once.
    link_id = made.json()["id"]
    revoked = httpx.delete(f"{stack.base_url}/api/canvases/{canvas_id}/share-links/{link_id}", headers=stack.headers)
    assert revoked.status_code == 204
    expect(guest.locator("#connection")).to_have_text("denied")
    guest.context.close()
    owner.context.close()


def _model_id(stack, name: str) -> str:
    models = httpx.get(f"{stack.base_url}/api/models", headers=stack.headers, timeout=10.0).json()
    return next(m["id"] for m in models if m["model"] == name)
