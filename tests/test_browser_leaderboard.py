"""Headless Chromium on a team's leaderboard: the table and the rating–cost chart are drawn, a filter
and a sort replace the board through htmx without reloading the page, and the address follows."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser import ARTIFACTS, assert_dark_page, light_pixels_under
from tests.stack import django_shell, live_stack

pytestmark = pytest.mark.browser

# Votes of the stack's user: on general canvases GPT-5 beats the self-hosted DeepSeek; on the canvas
# tagged "coding" DeepSeek wins every time. Emits the user's team id.
_SEED = """
from decimal import Decimal
from django.contrib.auth import get_user_model
from canvas.models import Canvas
from tests.vote_factory import answer, model, prompt, vote

user = get_user_model().objects.get(username="u")
team = user.teams.get(personal=True)
gpt = model("gpt-5", "openai", price=("1.25", "0.125", "10"), display_name="GPT-5")
ds = model("deepseek-r1", "vllm", price=("0.05", "0.005", "0.5"), display_name="DeepSeek R1 (ours)")
general = Canvas.objects.create(team=team, title="General", created_by=user)
coding = Canvas.objects.create(team=team, title="Coding", created_by=user, tags=["coding"])
for canvas, outcomes in ((general, "aaaaab"), (coding, "bbb")):
    for outcome in outcomes:
        question = prompt(canvas)
        vote(answer(question, gpt, cost=Decimal("0.004"), ttft_ms=420, tokens_per_s=80.0),
             answer(question, ds, cost=Decimal("0.0002"), ttft_ms=150, tokens_per_s=45.0), outcome, user=user)
emit(str(team.id))
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with live_stack("embedded", tmp_path_factory.mktemp("browser-leaderboard")) as stack:
        yield stack


@pytest.fixture(scope="module")
def team_id(stack) -> str:
    return django_shell(stack.env, _SEED)


@pytest.fixture
def page(new_page) -> Page:
    """A signed-in page that fails its test on any script error or failed request."""
    page = new_page(1280, 900)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    yield page
    assert errors == [], errors


def model_names(page: Page) -> list[str]:
    return [name.strip() for name in page.locator("#board-table tbody tr td:first-child").all_inner_texts()]


def test_filter_and_sort_replace_the_board_in_place(page, stack, team_id):
    page.goto(f"{stack.base_url}/teams/{team_id}/")
    page.get_by_role("link", name="Leaderboard").click()

    expect(page.get_by_role("heading", name="Leaderboard")).to_be_visible()
    expect(page.locator("#board-table tbody tr")).to_have_count(2)
    assert model_names(page) == ["GPT-5", "DeepSeek R1 (ours) self-hosted"]
    expect(page.locator("#board-summary")).to_contain_text("9 votes")
    expect(page.locator("#board-chart canvas")).to_have_count(1)
    expect(page.locator("#board-chart")).to_have_attribute("data-points", "2")
    page.evaluate("window.__samePage = true")

    page.locator("#filter-tag").select_option("coding")

    expect(page.locator("#board-summary")).to_contain_text("3 votes")
    assert model_names(page) == ["DeepSeek R1 (ours) self-hosted", "GPT-5"]
    expect(page).to_have_url(re.compile(r"tag=coding"))
    expect(page.locator("#board-chart canvas")).to_have_count(1)  # drawn again for the new board
    assert page.evaluate("window.__samePage") is True, "htmx swapped the board; the page did not reload"

    page.get_by_role("link", name="Tokens/s (p50)").click()

    expect(page.locator("#board-table th[data-key=tokens_per_s_p50]")).to_have_attribute("aria-sort", "descending")
    assert model_names(page) == ["GPT-5", "DeepSeek R1 (ours) self-hosted"]
    expect(page).to_have_url(re.compile(r"tag=coding.*sort=tokens_per_s_p50|sort=tokens_per_s_p50.*tag=coding"))
    assert page.evaluate("window.__samePage") is True

    page.locator("#filter-judge").select_option("model")

    expect(page.locator("#board-empty")).to_be_visible()
    expect(page.locator("#board-chart")).to_have_count(0)


def test_the_leaderboard_is_dark_in_dark_mode_and_its_chart_shows(new_page, stack, team_id):
    page = new_page(1280, 900, color_scheme="dark")
    page.goto(f"{stack.base_url}/teams/{team_id}/leaderboard/")
    expect(page.locator("#board-chart canvas")).to_have_count(1)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "leaderboard-dark.png"), full_page=True)
    assert_dark_page(page)
    # The chart's axis labels are drawn in the light text colour, not black on the dark card.
    assert light_pixels_under(page.locator("#board-chart canvas").first) > 50


# A team whose models' answers differ in cost 250-fold (Claude Opus against the self-hosted DeepSeek),
# which puts the chart's cost axis on a log scale. Emits the team's id.
_FAR_APART = """
from decimal import Decimal
from django.contrib.auth import get_user_model
from canvas.models import Canvas, Membership, Role, Team
from providers.models import Model
from tests.vote_factory import answer, model, prompt, vote

user = get_user_model().objects.get(username="u")
team = Team.objects.create(name="Writers")
Membership.objects.create(team=team, user=user, role=Role.OWNER)
opus = model("claude-opus", "anthropic", price=("15", "1.5", "75"), display_name="Claude Opus")
ds = Model.objects.get(name="deepseek-r1")
canvas = Canvas.objects.create(team=team, title="Drafts", created_by=user)
for outcome in "aab":
    question = prompt(canvas)
    vote(answer(question, opus, cost=Decimal("0.05"), ttft_ms=900, tokens_per_s=30.0),
         answer(question, ds, cost=Decimal("0.0002"), ttft_ms=150, tokens_per_s=45.0), outcome, user=user)
emit(str(team.id))
"""


def test_costs_far_apart_are_charted_on_a_log_scale(page, stack, team_id):
    """uPlot leaves some of a log axis's ticks unlabelled (null): the labels must allow for it, or the
    chart throws while drawing and the page shows an empty box (the page fixture fails on the error)."""
    writers = django_shell(stack.env, _FAR_APART)
    page.goto(f"{stack.base_url}/teams/{writers}/leaderboard/")

    expect(page.locator("#board-chart")).to_have_attribute("data-points", "2")
    expect(page.locator("#board-chart canvas")).to_have_count(1)
    expect(page.locator("#board-chart")).to_have_attribute("data-scale", "log")
