"""Limits on runs: how many one user may have going, and a team's monthly budget. Both refuse a prompt
before any node is made (so no provider is ever called); a budget nearing its end is a warning.

POST /prompts starts its runs after commit; most of these tests run inside a rolled-back transaction, so
the responses they make stay queued: running, as far as the limit is concerned.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections
from django.test import Client

from canvas.models import Canvas, Node, NodeKind, NodeStatus
from canvas.services import create_prompt
from engine import limits
from tests.stack import django_shell

pytestmark = pytest.mark.django_db


@pytest.fixture
def swift(sim_models):
    return sim_models["sim-swift"]


def submit(client: Client, canvas: Canvas, model_ids: list) -> object:
    body = {"text": "Which is faster?", "models": [str(m) for m in model_ids], "parents": []}
    return client.post(f"/api/canvases/{canvas.id}/prompts", json.dumps(body), content_type="application/json")


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()["error"]


def spent(canvas: Canvas, model, cost: str, status: str = NodeStatus.DONE, **fields) -> Node:
    """A response that has already run on `canvas` and cost `cost` dollars."""
    return Node.objects.create(
        canvas=canvas, kind=NodeKind.RESPONSE, model=model, status=status, cost=Decimal(cost), **fields
    )


def responses_on(canvas: Canvas) -> int:
    return Node.objects.filter(canvas=canvas, kind=NodeKind.RESPONSE).count()


# --- runs at once, per user ----------------------------------------------------------------------


def test_a_prompt_within_the_run_limit_is_accepted(api, alice_canvas, swift, settings):
    settings.PRISM_MAX_RUNS_PER_USER = 3
    assert submit(api, alice_canvas, [swift.id]).status_code == 202
    response = submit(api, alice_canvas, [swift.id, swift.id])  # 1 running + 2 = the limit exactly
    assert response.status_code == 202 and len(response.json()["responses"]) == 2


def test_a_fan_out_beyond_the_run_limit_is_refused_before_any_node_exists(api, alice_canvas, swift, settings):
    settings.PRISM_MAX_RUNS_PER_USER = 3
    assert submit(api, alice_canvas, [swift.id, swift.id]).status_code == 202
    nodes_before = Node.objects.count()

    error = error_of(submit(api, alice_canvas, [swift.id, swift.id]), 429)

    assert error["code"] == "limit"
    assert "2 runs going" in error["message"] and "at most 3" in error["message"]
    # Not even the prompt node: with no response node there is nothing a worker could run. (This
    # process never dispatches runs, so the provider's request count would prove nothing here.)
    assert Node.objects.count() == nodes_before


def test_finished_runs_do_not_count_against_the_limit(api, alice, alice_canvas, swift, settings):
    settings.PRISM_MAX_RUNS_PER_USER = 2
    for status in (NodeStatus.DONE, NodeStatus.ERROR, NodeStatus.CANCELLED, NodeStatus.INTERRUPTED):
        spent(alice_canvas, swift, "0", status=status, created_by=alice)
    assert submit(api, alice_canvas, [swift.id, swift.id]).status_code == 202


def test_streaming_runs_count_against_the_limit(api, alice, alice_canvas, swift, settings):
    settings.PRISM_MAX_RUNS_PER_USER = 2
    spent(alice_canvas, swift, "0", status=NodeStatus.STREAMING, created_by=alice)
    spent(alice_canvas, swift, "0", status=NodeStatus.QUEUED, created_by=alice)
    assert error_of(submit(api, alice_canvas, [swift.id]), 429)["code"] == "limit"


def test_another_users_runs_do_not_count_against_mine(api, alice_canvas, charlie, swift, settings):
    settings.PRISM_MAX_RUNS_PER_USER = 1
    spent(alice_canvas, swift, "0", status=NodeStatus.STREAMING, created_by=charlie)
    assert submit(api, alice_canvas, [swift.id]).status_code == 202


@pytest.mark.django_db(transaction=True)
def test_two_prompts_at_the_same_moment_cannot_both_slip_under_the_limit(alice, alice_canvas, swift, settings):
    settings.PRISM_MAX_RUNS_PER_USER = 3
    results: list[str] = []
    start = threading.Barrier(2)

    def prompt() -> None:
        try:
            start.wait()
            create_prompt(alice_canvas, alice, "At the same moment", [swift, swift], [])
            results.append("accepted")
        except limits.TooManyRuns:
            results.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=prompt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == ["accepted", "refused"]
    assert Node.objects.filter(created_by=alice, kind=NodeKind.RESPONSE, status=NodeStatus.QUEUED).count() == 2


_SQLITE_RACE = """
import json, threading
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connections
from canvas.models import Canvas, Node
from canvas.services import create_prompt
from engine import limits
from providers.models import Model, ProviderAccount

call_command("migrate", verbosity=0)
user = get_user_model().objects.create_user("racer")
canvas = Canvas.objects.create(team=user.teams.get(personal=True), title="Race", created_by=user)
account = ProviderAccount.objects.create(name="Nowhere", kind="simulator", base_url="http://127.0.0.1:9/v1")
model = Model.objects.create(account=account, name="sim-swift", display_name="Swift")
results = []
start = threading.Barrier(4)

def prompt():
    try:
        start.wait()
        create_prompt(canvas, user, "At the same moment", [model, model], [])
        results.append("accepted")
    except limits.TooManyRuns:
        results.append("refused")
    finally:
        connections.close_all()

threads = [threading.Thread(target=prompt) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
emit({"results": sorted(results), "responses": Node.objects.filter(kind="response").count()})
"""


def test_on_sqlite_too_concurrent_prompts_cannot_slip_under_the_limit(tmp_path):
    """The embedded mode's SQLite has no row locks: its write lock, taken when the transaction begins,
    serialises the prompts instead. Checked in a process of its own on a fresh SQLite database."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SQLITE_PATH")}
    env.update(PRISM_VAR_DIR=str(tmp_path), PRISM_MAX_RUNS_PER_USER="5", DJANGO_SETTINGS_MODULE="config.settings")
    outcome = django_shell(env, _SQLITE_RACE)
    # Two prompts of two fit under five; the other two are refused, whatever the interleaving.
    assert outcome == {"results": ["accepted", "accepted", "refused", "refused"], "responses": 4}


# --- the monthly budget --------------------------------------------------------------------------


def test_a_team_that_has_spent_its_budget_is_refused_with_402(api, alice_team, alice_canvas, swift):
    alice_team.monthly_budget_usd = Decimal("1.00")
    alice_team.save()
    spent(alice_canvas, swift, "0.60")
    spent(alice_canvas, swift, "0.40")
    responses_before = responses_on(alice_canvas)

    error = error_of(submit(api, alice_canvas, [swift.id]), 402)

    assert error["code"] == "budget"
    assert "$1.00 of its $1.00 budget" in error["message"]
    assert responses_on(alice_canvas) == responses_before


def test_a_team_under_its_budget_runs(api, alice_team, alice_canvas, swift):
    alice_team.monthly_budget_usd = Decimal("1.00")
    alice_team.save()
    spent(alice_canvas, swift, "0.25")
    response = submit(api, alice_canvas, [swift.id])
    assert response.status_code == 202 and response.json()["warnings"] == []


def test_a_team_without_a_budget_has_no_limit(api, alice_canvas, swift):
    spent(alice_canvas, swift, "1000000")
    assert submit(api, alice_canvas, [swift.id]).status_code == 202


def test_only_this_calendar_month_counts(api, alice_team, alice_canvas, swift):
    alice_team.monthly_budget_usd = Decimal("1.00")
    alice_team.save()
    last_month = limits.month_start() - timedelta(seconds=1)
    spent(alice_canvas, swift, "5.00", created_at=last_month)
    assert limits.month_spend(alice_team) == 0
    assert submit(api, alice_canvas, [swift.id]).status_code == 202


def test_another_teams_spending_does_not_count(api, alice_team, alice_canvas, charlie, swift):
    alice_team.monthly_budget_usd = Decimal("1.00")
    alice_team.save()
    charlies = Canvas.objects.create(team=charlie.teams.get(personal=True), title="Charlie's", created_by=charlie)
    spent(charlies, swift, "5.00")
    assert submit(api, alice_canvas, [swift.id]).status_code == 202


def test_a_budget_nearing_its_end_comes_with_a_warning(api, alice_team, alice_canvas, swift, settings):
    settings.PRISM_BUDGET_WARN_RATIO = 0.8
    alice_team.monthly_budget_usd = Decimal("10.00")
    alice_team.save()
    spent(alice_canvas, swift, "8.50")

    response = submit(api, alice_canvas, [swift.id])

    assert response.status_code == 202
    [warning] = response.json()["warnings"]
    assert warning["code"] == "budget"
    assert warning["message"].startswith("85% of this month's budget is spent")


def test_the_openapi_document_describes_the_refusals_and_the_warnings(api):
    document = api.get("/api/openapi.json").json()
    operation = document["paths"]["/api/canvases/{canvas_id}/prompts"]["post"]
    assert {"202", "402", "429"} <= set(operation["responses"])
    prompt_out = document["components"]["schemas"]["PromptOut"]
    assert "warnings" in prompt_out["properties"] and "warnings" not in prompt_out.get("required", [])


# --- what the page shows -------------------------------------------------------------------------

_SPENT_TEAM = """
from decimal import Decimal
from django.contrib.auth import get_user_model
from canvas.models import Canvas, Node
from providers.models import Model

user = get_user_model().objects.get(username="u")
team = user.teams.get(personal=True)
team.monthly_budget_usd = Decimal({budget!r})
team.save()
canvas = Canvas.objects.filter(title="Budget").first() or Canvas.objects.create(
    team=team, title="Budget", created_by=user
)
if not canvas.nodes.exists():
    model = Model.objects.get(name="sim-swift")
    Node.objects.create(canvas=canvas, kind="response", model=model, status="done", cost=Decimal("1.00"))
emit(str(canvas.id))
"""


def _spent_team(stack, budget: str) -> str:
    """u's team has spent $1.00 this month of a budget of `budget`; the id of a canvas of that team."""
    return django_shell(stack.env, _SPENT_TEAM.format(budget=budget))


@pytest.mark.browser
def test_the_page_shows_why_a_prompt_was_refused_and_a_budget_nearing_its_end(tmp_path_factory):
    from playwright.sync_api import expect

    from tests.browser import SWIFT, choose, chromium
    from tests.stack import live_stack

    with live_stack("embedded", tmp_path_factory.mktemp("limits-ui")) as stack, chromium() as browser:
        canvas_id = _spent_team(stack, "1.00")
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(15_000)
        page.goto(f"{stack.base_url}/accounts/login/")
        page.get_by_label("Username").fill(stack.username)
        page.get_by_label("Password").fill(stack.password)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{stack.base_url}/canvases/{canvas_id}/")
        expect(page.locator("#connection")).to_have_text("live")

        choose(page, {SWIFT: 1})
        page.get_by_label("Prompt").fill("One more question, please.")
        page.get_by_role("button", name="Run").click()
        expect(page.locator("#prompt-error")).to_contain_text("$1.00 of its $1.00 budget for this month")
        expect(page.get_by_label("Prompt")).to_have_value("One more question, please.")  # nothing was sent

        _spent_team(stack, "1.20")  # an owner raised the budget: $1.00 of $1.20 is 83%
        page.get_by_role("button", name="Run").click()
        expect(page.locator("#toast")).to_contain_text("83% of this month's budget is spent")
        expect(page.locator("#prompt-error")).to_be_hidden()
