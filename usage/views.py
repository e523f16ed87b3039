"""Usage pages: a team's (/teams/{id}/usage/) and one's own across teams (/accounts/usage/), and the
budget forms of the team page. Thin: access through canvas.access, figures from usage.report.

A usage page's report (figures, charts, table) is also its htmx partial: the filters ask for it with
htmx, and the same template renders alone (request.htmx) or inside the whole page, so the two never
drift apart. Without JavaScript the filters are a plain GET form.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from canvas import access
from canvas.errors import ApiError
from canvas.models import Role
from usage import budgets, economics, present
from usage.aggregate import person_runs, team_runs
from usage.health import provider_health
from usage.periods import Period, parse_period
from usage.report import GROUPING_NAMES, PERSON_GROUPINGS, TEAM_GROUPINGS, build, usage_charts


@dataclass(frozen=True)
class Filters:
    period: Period
    by: str
    choices: list[tuple[str, str]]  # (grouping, its name) the viewer may pick
    error: str | None = None

    def query(self, **more) -> str:
        return urlencode({"since": self.period.since, "until": self.period.until, "by": self.by, **more})


def _filters(request, groupings) -> Filters:
    """The period and grouping asked for; a malformed one falls back to the defaults, with a message."""
    choices = [(g, GROUPING_NAMES[g]) for g in groupings]
    by = request.GET.get("by") or "day"
    try:
        if by not in groupings:
            raise ApiError(400, "invalid", f"Group by one of: {', '.join(groupings)}.")
        return Filters(parse_period(request.GET.get("since"), request.GET.get("until")), by, choices)
    except ApiError as exc:
        return Filters(parse_period(None, None), "day", choices, exc.message)


def _report(runs, filters: Filters, csv_url: str) -> dict:
    report = build(runs, filters.period, filters.by)
    return {
        "filters": filters,
        "grouping": GROUPING_NAMES[filters.by],
        "table": present.table(report),
        "charts": {"x": filters.period.axis, "charts": usage_charts(runs, filters.period)},
        "csv_url": f"{csv_url}?{filters.query(format='csv')}",
    }


def _render(request, template: str, context: dict, filters: Filters):
    status = 400 if filters.error else 200
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "usage/_report.html", context, status=status)
    return render(request, template, context, status=status)


@login_required
@require_GET
def team_usage(request, team_id):
    mine = access.team_usage_for(request.user, team_id, per_person=request.GET.get("by") == "user")
    groupings = TEAM_GROUPINGS if mine.role == Role.OWNER else tuple(g for g in TEAM_GROUPINGS if g != "user")
    filters = _filters(request, groupings)
    runs = team_runs(mine.team, filters.period)
    context = {
        "team": mine.team,
        "mine": mine,
        "page_url": reverse("team-usage", args=[mine.team.id]),
        **_report(runs, filters, f"/api/teams/{mine.team.id}/usage"),
        "self_hosted": present.self_hosted(economics.self_hosted(runs)),
        "staff": access.sees_provider_health(request.user),
    }
    if context["staff"]:
        health, health_charts = provider_health(filters.period)
        context["health"] = present.health(health)
        context["charts"]["charts"].update(health_charts)
    return _render(request, "usage/team.html", context, filters)


@login_required
@require_GET
def my_usage(request):
    filters = _filters(request, PERSON_GROUPINGS)
    context = {
        "page_url": reverse("my-usage"),
        **_report(person_runs(request.user, filters.period), filters, "/api/usage"),
    }
    return _render(request, "usage/mine.html", context, filters)


@login_required
@require_POST
def team_budget(request, team_id):
    """Owners set the team's monthly budget (empty: none)."""
    team = access.team_for(request.user, team_id, manage=True)
    try:
        budgets.set_team_budget(team, budgets.parse_budget(request.POST.get("monthly_budget_usd")))
    except ApiError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{team.name}'s monthly budget is {_named(team.monthly_budget_usd)}.")
    return redirect(reverse("team-detail", args=[team.id]) + "#budgets")


@login_required
@require_POST
def member_budget(request, team_id, member_id):
    """Owners set one person's monthly budget within the team (empty: none of their own)."""
    target = access.member_of(request.user, team_id, member_id)
    try:
        budgets.set_member_budget(target, budgets.parse_budget(request.POST.get("monthly_budget_usd")))
    except ApiError as exc:
        messages.error(request, exc.message)
    else:
        who = access.display_name(target.user)
        messages.success(request, f"{who}'s monthly budget here is {_named(target.monthly_budget_usd)}.")
    return redirect(reverse("team-detail", args=[target.team_id]) + "#budgets")


def _named(budget) -> str:
    return "not limited" if budget is None else f"${budget:,.2f}"
