"""Headless Chromium on a team's usage page (the embedded stack, so SQLite's exact fallback): the charts
are drawn, changing the grouping or the period swaps the report in through htmx (and the address
follows), and the CSV link downloads exactly the rows the table shows."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from tests.browser import ARTIFACTS, assert_dark_page, light_pixels_under, sign_in
from tests.stack import django_shell, live_stack

pytestmark = pytest.mark.browser

# Runs of the user u in their personal team, on three days of March 2026, on two simulated models.
_SEED = """
from decimal import Decimal
from datetime import datetime, UTC
from canvas.models import Canvas, Membership, Node
from providers.models import Model

team = Membership.objects.get(user__username="u", team__personal=True).team
canvas = Canvas.objects.create(team=team, title="Runs in March", created_by=team.memberships.get().user)
models = list(Model.objects.filter(name__in=["sim-swift", "sim-reasoner"]).order_by("name"))
for n, (day, model) in enumerate([(2, 0), (2, 1), (9, 0), (20, 1), (20, 1)]):
    Node.objects.create(
        canvas=canvas, kind="response", status="done", model=models[model], created_by=canvas.created_by,
        created_at=datetime(2026, 3, day, 10 + n, tzinfo=UTC), billed_team=team, input_tokens=1000 * (n + 1),
        cached_input_tokens=100 * n, output_tokens=200 + n, reasoning_tokens=10 * model, ttft_ms=100 + 50 * n,
        tokens_per_s=40.0 + n, cost=Decimal("0.0012345678") * (n + 1),
    )
emit(str(team.id))
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with live_stack("embedded", tmp_path_factory.mktemp("usage")) as stack:
        yield stack


@pytest.fixture(scope="module")
def team_id(stack) -> str:
    return django_shell(stack.env, _SEED)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def pick_date(page, label: str, day: str) -> None:
    """As a date picker does: set the value, then `change` (Playwright's fill sends only `input`)."""
    field = page.get_by_label(label)
    field.fill(day)
    field.dispatch_event("change")


def table_rows(page) -> list[list[str]]:
    return [
        [cell.strip() for cell in row.locator("th, td").all_inner_texts()]
        for row in page.locator(".usage-table tbody tr").all()
    ]


def test_the_usage_page_draws_its_charts_and_refreshes_through_htmx(page, stack, team_id):
    problems = []  # script errors, and any of the page's requests that failed (the browser's favicon aside)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("response", lambda response: problems.append(response.url) if response.status >= 400 else None)
    try:
        sign_in(page, stack)
        page.goto(f"{stack.base_url}/teams/{team_id}/")
        page.get_by_role("link", name="Usage", exact=True).click()
        expect(page.get_by_role("heading", name=re.compile("^Usage of"))).to_be_visible()

        pick_date(page, "From", "2026-03-01")
        pick_date(page, "To", "2026-03-31")
        expect(page.locator(".totals dd").first).to_have_text("5")
        expect(page.locator("figure[data-chart=cost] .uplot canvas")).to_have_count(1)
        expect(page.locator("figure[data-chart=tokens] .u-legend")).to_contain_text("Reasoner")
        assert [row[0] for row in table_rows(page)] == ["2026-03-02", "2026-03-09", "2026-03-20"]

        page.get_by_label("Group by").select_option("model")
        expect(page.locator(".usage-table thead th").first).to_have_text("Model")
        expect(page).to_have_url(re.compile(r"by=model"))
        labels = sorted(row[0] for row in table_rows(page))
        assert len(labels) == 2 and "Reasoner" in labels[0] and "Swift" in labels[1]
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload: a swap

        pick_date(page, "From", "2026-03-05")
        expect(page.locator(".totals dd").first).to_have_text("3")
        expect(page.locator("figure[data-chart=cost] .uplot canvas")).to_have_count(1)

        with page.expect_download() as download:
            page.get_by_role("link", name="Download CSV").click()
        rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
        shown = table_rows(page)
        assert [(row["label"], row["runs"]) for row in rows] == [(cells[0], cells[1]) for cells in shown]
        assert problems == []
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "usage-page.png"), full_page=True)
        raise


def test_the_usage_page_is_dark_in_dark_mode_and_its_charts_show(new_page, stack, team_id):
    page = new_page(1280, 900, color_scheme="dark")
    page.goto(f"{stack.base_url}/teams/{team_id}/usage/?since=2026-03-01&until=2026-03-31")
    expect(page.locator("figure[data-chart=cost] .uplot canvas")).to_have_count(1)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "usage-dark.png"), full_page=True)
    assert_dark_page(page)
    # The chart's axis labels are drawn in the light text colour, not black on the dark card.
    assert light_pixels_under(page.locator("figure[data-chart=cost] .uplot canvas").first) > 50


def test_the_usage_page_fits_a_phone_screen(new_page, stack, team_id):
    page = new_page(390, 844, is_mobile=True, has_touch=True)
    page.goto(f"{stack.base_url}/teams/{team_id}/usage/?since=2026-03-01&until=2026-03-31")
    charts = page.locator("figure[data-chart] .uplot canvas")
    expect(charts.first).to_be_visible()
    # Nothing pushes the page wider than the screen: the charts take its width, the table scrolls in its card.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    for chart in charts.all():
        box = chart.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box


_UNPRICED = """
from datetime import datetime, UTC
from canvas.models import Canvas, Node
from providers.models import Model

canvas = Canvas.objects.get(title="Runs in March")
Node.objects.create(
    canvas=canvas, kind="response", status="done", model=Model.objects.get(name="sim-swift"),
    created_by=canvas.created_by, created_at=datetime(2026, 4, 3, 9, tzinfo=UTC), billed_team=canvas.team,
    input_tokens=500, output_tokens=120, ttft_ms=90, tokens_per_s=50.0, cost=None,
)
emit("ok")
"""


def test_a_period_whose_runs_had_no_price_says_so_instead_of_charting_them_at_zero(page, stack, team_id):
    django_shell(stack.env, _UNPRICED)
    sign_in(page, stack)
    page.goto(f"{stack.base_url}/teams/{team_id}/usage/?since=2026-04-01&until=2026-04-30")

    expect(page.locator("figure[data-chart=cost]")).to_have_text("Cost per day (US$): no run here had a price.")
    expect(page.locator("figure[data-chart=tokens] .uplot canvas")).to_have_count(1)
    expect(page.locator("#cost-chart-left-out")).to_have_text(re.compile(r"no price\): Simulator · Swift"))
    expect(page.locator(".totals div", has_text="Cost").locator("dd")).to_have_text("no price")
