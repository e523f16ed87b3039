"""Limits on runs: how many one user may have going, and a team's monthly budget. Both refuse a prompt
before any node is made (so no provider is ever called); a budget nearing its end is a warning.

POST /prompts starts its runs after commit; most of these tests run inside a rolled-back transaction, so
the responses they make stay queued: running, as far as the limit is concerned.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from canvas.errors import ApiError
from canvas.models import Canvas, Membership, Node, NodeKind, NodeStatus, Role, Team
from canvas.services import create_prompt
from engine import limits
from providers.models import Price
from tests.stack import django_shell
from tests.usage_world import at
from usage import rollups
from usage.models import RolledUp

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
    """A response that has already run on `canvas`, billed to its team, and cost `cost` dollars."""
    fields.setdefault("billed_team", canvas.team)
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


def _on_fresh_sqlite(tmp_path, script: str, **settings: str):
    """`script`'s result, run in a process of its own on a fresh SQLite database (the embedded mode)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SQLITE_PATH")}
    env.update(PRISM_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings", **settings)
    return django_shell(env, script)


_SQLITE_RACE = """
import json, threading
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, connections
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
    outcome = _on_fresh_sqlite(tmp_path, _SQLITE_RACE, PRISM_MAX_RUNS_PER_USER="5")
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


def test_a_prompt_reads_its_teams_month_once_for_the_check_and_the_warning(
    api, alice_team, alice_canvas, swift, settings
):
    """The warning comes from the figures the limit check read under its lock: no second reading of the
    month's spend, which every prompt would pay for."""
    settings.PRISM_BUDGET_WARN_RATIO = 0.8
    alice_team.monthly_budget_usd = Decimal("10.00")
    alice_team.save()
    spent(alice_canvas, swift, "8.50")

    with CaptureQueriesContext(connection) as queries:
        response = submit(api, alice_canvas, [swift.id])

    assert [w["code"] for w in response.json()["warnings"]] == ["budget"]
    month_sums = [q["sql"] for q in queries.captured_queries if "SUM(" in q["sql"] and "cost" in q["sql"]]
    assert len(month_sums) == 1, month_sums


def test_the_month_read_from_the_roll_ups_counts_every_run_once(alice, alice_team, alice_canvas, charlie, swift):
    """Closed days come from the usage roll-ups and only the others from the runs: the same spend, per
    person too, and the same reservations as reading every run of the month, with days rolled up, a day
    a late write unmarked between them, and today's runs, one still going."""
    priced(swift, "10")
    now = at("2026-03-20", 15)
    elsewhere = Canvas.objects.create(team=charlie.teams.get(personal=True), title="Elsewhere", created_by=charlie)
    spent(alice_canvas, swift, "5.00", created_by=alice, created_at=at("2026-02-28", 23, 59))  # last month
    spent(elsewhere, swift, "9.00", created_by=charlie, created_at=at("2026-03-10"))  # another team
    for day, cost, author in [
        ("2026-03-01", "0.10", alice), ("2026-03-03", "0.20", charlie), ("2026-03-10", "0.40", alice),
        ("2026-03-15", "0.80", charlie), ("2026-03-20", "1.60", alice),
    ]:  # fmt: skip
        spent(alice_canvas, swift, cost, created_by=author, created_at=at(day, 0 if day.endswith("01") else 10))
    spent(alice_canvas, swift, "0", NodeStatus.STREAMING, created_by=alice, created_at=at("2026-03-20", 14))
    going = {"created_at": at("2026-03-20", 14), "params": {"max_tokens": 100}}
    spent(alice_canvas, swift, "0", NodeStatus.QUEUED, created_by=charlie, **going)

    def month():
        ledger = limits._Ledger.of(alice_team, now)
        return ledger.spend(None), ledger.spend(None, user_id=alice.pk), ledger.spend(None, user_id=charlie.pk)

    from_the_runs = month()
    assert [s.spent for s in from_the_runs] == [Decimal("3.10"), Decimal("2.10"), Decimal("1.00")]
    assert from_the_runs[0].reserved > from_the_runs[2].reserved > 0

    rollups.build(now=now)
    assert RolledUp.objects.filter(first_day=date(2026, 3, 19), last_day=date(2026, 3, 19)).exists()
    assert month() == from_the_runs

    late = Node.objects.get(billed_team=alice_team, created_at=at("2026-03-10", 10))
    Node.objects.filter(pk=late.pk).update(cost=Decimal("0.45"))  # the trigger unmarks the 10th alone
    assert not RolledUp.objects.filter(first_day=date(2026, 3, 10)).exists()
    assert RolledUp.objects.filter(first_day=date(2026, 3, 15)).exists()
    assert [s.spent for s in month()] == [Decimal("3.15"), Decimal("2.15"), Decimal("1.00")]
    assert limits.month_spend(alice_team, now=now) == Decimal("3.15")


def test_on_the_first_of_the_month_only_its_runs_count_whatever_is_rolled_up(alice, alice_team, alice_canvas, swift):
    now = at("2026-04-01", 0, 30)
    spent(alice_canvas, swift, "5.00", created_by=alice, created_at=at("2026-03-31", 23, 59))
    spent(alice_canvas, swift, "0.25", created_by=alice, created_at=at("2026-04-01", 0, 10))
    rollups.build(now=now)
    assert RolledUp.objects.filter(first_day=date(2026, 3, 31)).exists()
    assert limits.month_spend(alice_team, now=now) == Decimal("0.25")
    # A clock behind the one that rolled the 31st up: its own today is read from the runs, not lost (what
    # is later than its now, the 1st's run, counts too: the month has no end but now's).
    assert limits.month_spend(alice_team, now=at("2026-03-31", 23, 59)) == Decimal("5.25")


# --- billed to the team that ran it, and reserved while running ---------------------------------


def budgeted(team, usd: str) -> None:
    team.monthly_budget_usd = Decimal(usd)
    team.save()


def priced(model, output_per_million: str, **params) -> None:
    """Give `model` a price: output tokens only, so a run's estimate is ESTIMATE_OUTPUT_TOKENS of them."""
    Price.objects.create(
        model=model, input=0, cached_input=0, output=Decimal(output_per_million),
        effective_from=timezone.now() - timedelta(days=1),
    )  # fmt: skip
    if params:
        model.default_params = {**model.default_params, **params}
        model.save()


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def research(alice, charlie):
    """A team alice owns and charlie edits in, with a canvas."""
    team = Team.objects.create(name="Research")
    Membership.objects.create(team=team, user=alice, role=Role.OWNER)
    Membership.objects.create(team=team, user=charlie, role=Role.EDITOR)
    return team, Canvas.objects.create(team=team, title="Research canvas", created_by=alice)


def test_every_path_that_makes_an_answer_bills_the_canvas_team(api, alice_team, alice_canvas, swift):
    made = submit(api, alice_canvas, [swift.id]).json()
    regenerated = api.post(f"/api/nodes/{made['responses'][0]['id']}/regenerate").json()
    rerun = api.post(f"/api/nodes/{made['prompt']['id']}/rerun", "{}", content_type="application/json").json()

    answers = [made["responses"][0]["id"], regenerated["id"], rerun["responses"][0]["id"]]
    assert [Node.objects.get(pk=i).billed_team_id for i in answers] == [alice_team.id] * 3


def test_moving_a_canvas_away_does_not_take_its_spend_with_it(api, alice, alice_team, alice_canvas, swift):
    budgeted(alice_team, "1.00")
    [answer] = submit(api, alice_canvas, [swift.id]).json()["responses"]
    Node.objects.filter(pk=answer["id"]).update(status=NodeStatus.DONE, cost=Decimal("1.00"))
    elsewhere = Team.objects.create(name="Elsewhere")
    Membership.objects.create(team=elsewhere, user=alice, role=Role.OWNER)
    moved = api.post(f"/api/canvases/{alice_canvas.id}/move", json.dumps({"team": str(elsewhere.id)}),
                     content_type="application/json")  # fmt: skip
    assert moved.status_code == 200

    another = Canvas.objects.create(team=alice_team, title="Another", created_by=alice)
    assert error_of(submit(api, another, [swift.id]), 402)["code"] == "budget"
    assert limits.month_spend(alice_team) == Decimal("1.00") and limits.month_spend(elsewhere) == 0


def test_imported_answers_cost_nothing_against_a_budget(api, alice_team, alice_canvas, swift):
    budgeted(alice_team, "1.00")
    model = {"provider_kind": "simulator", "model": "sim-swift", "display_name": "Swift"}
    file = {"format": "prism.canvas", "version": 1, "canvas": {"title": "Brought in"}, "nodes": [
        {"id": "q", "kind": "prompt", "text": "Costly?"},
        {"id": "a", "kind": "response", "parents": ["q"], "status": "done", "text": "Yes", "model": model, "cost": "5"},
    ]}  # fmt: skip
    imported = api.post("/api/canvases/import", json.dumps(file), content_type="application/json")
    assert imported.status_code == 201, imported.content

    assert limits.month_spend(alice_team) == 0
    assert submit(api, alice_canvas, [swift.id]).status_code == 202


def test_runs_still_going_reserve_their_estimate_so_a_burst_stops_at_the_budget(api, alice_team, alice_canvas, swift):
    budgeted(alice_team, "1.00")
    priced(swift, "75")  # 4,000 output tokens at $75 per million: $0.30 a run

    statuses = [submit(api, alice_canvas, [swift.id]).status_code for _ in range(5)]

    # $0.00, $0.30, $0.60 and $0.90 held are under $1.00; at $1.20 the budget is taken.
    assert statuses == [202, 202, 202, 202, 402]
    error = error_of(submit(api, alice_canvas, [swift.id]), 402)
    assert "$0.00 of its $1.00 budget" in error["message"] and "may cost about $1.20 more" in error["message"]
    assert limits.spend_summary(alice_team) == limits.Spend(spent=0, reserved=Decimal("1.2"), budget=Decimal("1.00"))

    # Finished runs give their reservation back and count what they cost.
    Node.objects.filter(canvas=alice_canvas, kind=NodeKind.RESPONSE).update(status=NodeStatus.DONE, cost="0.05")
    assert submit(api, alice_canvas, [swift.id]).status_code == 202


def test_a_run_is_estimated_at_its_models_answer_length_where_its_params_set_one(swift):
    priced(swift, "10", max_tokens=100_000)
    price = swift.prices.get()
    assert limits.run_estimate(price, swift.default_params) == Decimal("1.00")  # 100,000 × $10 per million
    assert limits.run_estimate(price, {}) == Decimal("0.04")  # 4,000 × $10 per million
    assert limits.run_estimate(None, {"max_tokens": 10}) == 0


def test_a_run_going_reserves_its_models_answer_length_and_the_price_in_force(api, alice_team, alice_canvas, swift):
    budgeted(alice_team, "1.00")
    priced(swift, "1", max_tokens=100_000)  # an older price, no longer in force
    Price.objects.create(model=swift, input=0, cached_input=0, output=Decimal("10"), effective_from=timezone.now())
    assert submit(api, alice_canvas, [swift.id]).status_code == 202

    # The run going holds 100,000 tokens (the model's own length) at $10 per million: the budget is taken.
    error = error_of(submit(api, alice_canvas, [swift.id]), 402)
    assert "may cost about $1.00 more" in error["message"]


_SQLITE_RESERVATIONS = """
from decimal import Decimal
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from canvas.models import Canvas
from canvas.services import create_prompt
from engine import limits
from providers.models import Model, Price, ProviderAccount

call_command("migrate", verbosity=0)
user = get_user_model().objects.create_user("spender")
team = user.teams.get(personal=True)
team.monthly_budget_usd = Decimal("1.00")
team.save()
canvas = Canvas.objects.create(team=team, title="Budget", created_by=user)
account = ProviderAccount.objects.create(name="Nowhere", kind="simulator", base_url="http://127.0.0.1:9/v1")
model = Model.objects.create(
    account=account, name="sim-swift", display_name="Swift", default_params={"max_tokens": 50000}
)
free = Model.objects.create(account=account, name="sim-free", display_name="Free")
older = timezone.now() - timezone.timedelta(days=1)
Price.objects.create(model=model, input=0, cached_input=0, output=Decimal("1"), effective_from=older)
Price.objects.create(model=model, input=0, cached_input=0, output=Decimal("4"), effective_from=timezone.now())
create_prompt(canvas, user, "First", [model, free], [], params=[{"max_tokens": 100000}, {}])
create_prompt(canvas, user, "Second", [model], [])
reserved = str(limits.spend_summary(team).reserved)
team.monthly_budget_usd = Decimal("0.60")
team.save()
try:
    create_prompt(canvas, user, "Third", [model], [])
    refused = ""
except limits.BudgetSpent as error:
    refused = error.message
emit({"reserved": reserved, "refused": refused})
"""


def test_on_sqlite_too_runs_going_reserve_their_models_length_at_the_price_in_force(tmp_path):
    """The embedded mode reads its ledger in a statement of its own (no roll-ups): the same reservations."""
    outcome = _on_fresh_sqlite(tmp_path, _SQLITE_RESERVATIONS)
    # 100,000 tokens (the run's own length) and 50,000 (the model's) at $4 per million, the price in force
    # (at the older $1 it would be $0.15); the model without a price reserves nothing. With the budget at
    # what the runs going hold, the next prompt is refused.
    assert outcome["reserved"] == "0.6000000000"
    assert "$0.00 of its $0.60 budget" in outcome["refused"] and "may cost about $0.60 more" in outcome["refused"]


@pytest.mark.django_db(transaction=True)
def test_two_members_at_the_same_moment_cannot_both_slip_under_the_teams_budget(alice, charlie, research, swift):
    team, canvas = research
    budgeted(team, "1.00")
    priced(swift, "150")  # $0.60 a run
    spent(canvas, swift, "0.50")  # room for one more run, not two
    results: list[str] = []
    start = threading.Barrier(2)

    def prompt(user) -> None:
        try:
            start.wait()
            create_prompt(Canvas.objects.select_related("team").get(pk=canvas.pk), user, "Now", [swift], [])
            results.append("accepted")
        except limits.BudgetSpent:
            results.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=prompt, args=(user,)) for user in (alice, charlie)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == ["accepted", "refused"]


def test_a_member_past_their_own_budget_is_refused_and_others_run(api, alice, charlie, research, swift):
    team, canvas = research
    Membership.objects.filter(team=team, user=charlie).update(monthly_budget_usd=Decimal("0.50"))
    spent(canvas, swift, "0.50", created_by=charlie)
    spent(canvas, swift, "3.00", created_by=alice)  # alice's spending is not charlie's

    error = error_of(submit(signed_in(charlie), canvas, [swift.id]), 402)

    assert error["code"] == "budget"
    assert error["message"].startswith("You have spent $0.50 of your own $0.50 budget in Research for this month")
    assert submit(signed_in(alice), canvas, [swift.id]).status_code == 202
    assert limits.spend_summary(team, charlie) == limits.Spend(
        spent=Decimal("0.50"), reserved=0, budget=Decimal("0.50")
    )


def test_a_members_own_runs_going_count_against_their_budget(charlie, research, swift):
    team, canvas = research
    Membership.objects.filter(team=team, user=charlie).update(monthly_budget_usd=Decimal("0.50"))
    priced(swift, "75")  # $0.30 a run
    client = signed_in(charlie)

    assert [submit(client, canvas, [swift.id]).status_code for _ in range(3)] == [202, 202, 402]


def test_a_members_budget_nearing_its_end_comes_with_a_warning(charlie, research, swift, settings):
    settings.PRISM_BUDGET_WARN_RATIO = 0.8
    team, canvas = research
    Membership.objects.filter(team=team, user=charlie).update(monthly_budget_usd=Decimal("1.00"))
    spent(canvas, swift, "0.90", created_by=charlie)

    [warning] = submit(signed_in(charlie), canvas, [swift.id]).json()["warnings"]

    assert warning == {"code": "budget", "message": "90% of your own budget this month is spent ($0.90 of $1.00)."}


def test_limits_are_the_engines_own_errors_which_the_api_maps_to_statuses(alice, alice_team, alice_canvas, swift):
    budgeted(alice_team, "1.00")
    spent(alice_canvas, swift, "1.00")

    with pytest.raises(limits.BudgetSpent) as refused:
        create_prompt(alice_canvas, alice, "Once more", [swift], [])

    assert refused.value.code == "budget" and not isinstance(refused.value, ApiError)
    assert isinstance(refused.value, limits.LimitExceeded)


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
    Node.objects.create(
        canvas=canvas, kind="response", model=model, status="done", cost=Decimal("1.00"), billed_team=team
    )
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
