"""The leaderboard page (/teams/{id}/leaderboard/): the whole page, and the board alone for htmx with
the same filters, sorting and paging; linked from the team page."""

from __future__ import annotations

import html as html_module
import json
import re
from decimal import Decimal

import pytest
from django.test import Client

from canvas import leaderboard
from canvas.models import Canvas
from tests.vote_factory import answer, duel, model, prompt, vote

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def scene(alice, alice_team, alice_canvas):
    gpt = model("gpt-5", "openai", price=("1.25", "0.125", "10"), display_name="GPT-5")
    ds = model("deepseek-r1", "vllm", price=("0.05", "0.005", "0.5"), display_name="DeepSeek (ours)")
    free = model("no-price", "openai", display_name="Unpriced")
    coding = Canvas.objects.create(team=alice_team, title="Code", created_by=alice, tags=["coding"])
    for outcome in ("a", "a", "b"):
        question = prompt(alice_canvas)
        vote(answer(question, gpt, cost=Decimal("0.002"), ttft_ms=300), answer(question, ds, cost=Decimal("0.0001")),
             outcome, user=alice)  # fmt: skip
    question = prompt(coding)
    vote(answer(question, ds, cost=Decimal("0.0001")), answer(question, free, input_tokens=30, output_tokens=40), "a",
         user=alice)  # fmt: skip
    return {"gpt": gpt, "ds": ds, "free": free}


def rows_of(html: str) -> list[str]:
    return re.findall(r'<tr class="board-row[^"]*" data-model="([^"]+)"', html)


def chart_of(html: str) -> dict:
    found = re.search(r'<div id="board-chart-data" hidden data-json="(.*?)"></div>', html, re.S)
    return json.loads(html_module.unescape(found.group(1)))


def test_the_page_shows_the_board_the_chart_data_and_the_estimates(browser, alice_team, scene):
    response = browser.get(f"/teams/{alice_team.id}/leaderboard/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and 'id="board"' in html and "prism/leaderboard.js" in html
    assert rows_of(html) == [str(scene["gpt"].id), str(scene["ds"].id), str(scene["free"].id)]
    assert "self-hosted" in html and "Votes as CSV" in html
    chart = chart_of(html)
    assert [(p["name"], p["self_hosted"]) for p in chart["points"]] == [("GPT-5", False), ("DeepSeek (ours)", True)]
    assert chart["unpriced"] == ["Unpriced"]
    assert 'id="board-costs"' in html and "<strong>$0.0064</strong>" in html  # spent on the 8 voted answers
    assert "<strong>$0.0064</strong> (1 of them had no price and are not in that sum)." in html
    assert "<script>" not in html and " on" + "click=" not in html


def test_htmx_gets_the_board_alone_with_its_filters(browser, alice_team, scene):
    response = browser.get(f"/teams/{alice_team.id}/leaderboard/", {"tag": "coding"}, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and "board-filters" in html
    assert rows_of(html) == [str(scene["ds"].id), str(scene["free"].id)]
    assert '<option value="coding" selected>' in html


def test_sorting_by_a_column_and_back(browser, alice_team, scene):
    page = f"/teams/{alice_team.id}/leaderboard/"

    by_cost = browser.get(page, {"sort": "cost_per_answer_p50", "dir": "asc"}).content.decode()
    by_cost_desc = browser.get(page, {"sort": "cost_per_answer_p50", "dir": "desc"}).content.decode()
    by_name = browser.get(page, {"sort": "display_name", "dir": "asc"}).content.decode()

    gpt, ds, free = (str(scene[k].id) for k in ("gpt", "ds", "free"))
    assert rows_of(by_cost) == [ds, gpt, free], "cheapest first; no price last"
    assert rows_of(by_cost_desc) == [gpt, ds, free], "no price last either way"
    assert rows_of(by_name) == [ds, gpt, free]
    assert 'aria-sort="ascending" data-key="cost_per_answer_p50"' in by_cost
    # The heading of the sorted column links to the other direction, keeping the filters.
    assert "sort=cost_per_answer_p50&amp;dir=desc" in by_cost


def test_pages_of_models(browser, alice, alice_canvas, alice_team, monkeypatch):
    monkeypatch.setattr(leaderboard, "PAGE_SIZE", 2)
    made = [model(f"m{i}", "openai") for i in range(5)]
    for first, second in zip(made, made[1:], strict=False):
        duel(alice_canvas, first, second, "a", user=alice)
    page = f"/teams/{alice_team.id}/leaderboard/"

    first, last = browser.get(page).content.decode(), browser.get(page, {"page": 3}).content.decode()

    assert len(rows_of(first)) == 2 and len(rows_of(last)) == 1
    assert "Page 1 of 3" in first and "page=2" in first
    assert set(rows_of(first)).isdisjoint(rows_of(last))


def test_a_bad_filter_says_so_and_shows_the_default_board(browser, alice_team, scene):
    html = browser.get(f"/teams/{alice_team.id}/leaderboard/", {"until": "tomorrow"}).content.decode()

    assert "until: a day as YYYY-MM-DD." in html and len(rows_of(html)) == 3


def test_no_votes_no_chart(browser, alice_team):
    html = browser.get(f"/teams/{alice_team.id}/leaderboard/").content.decode()

    assert 'id="board-empty"' in html and 'id="board-chart"' not in html


def test_the_team_page_links_to_it(browser, alice_team):
    html = browser.get(f"/teams/{alice_team.id}/").content.decode()

    assert f'href="/teams/{alice_team.id}/leaderboard/"' in html
