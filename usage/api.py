"""The usage API (mounted into canvas.api): a team's usage, and the caller's own across teams, as JSON or
as CSV. Both are built by usage.report, like the pages."""

from __future__ import annotations

from typing import Literal

from django.http import HttpResponse
from ninja import Field, Query, Router, Schema

from canvas import access
from canvas.api_teams import answers
from usage.aggregate import person_runs, team_runs
from usage.periods import parse_period
from usage.report import Report, as_csv, build, csv_filename, payload
from usage.summary import EXACT_MEDIAN_DAYS

router = Router(tags=["usage"])

CSV = {"responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}}
SINCE = Query(None, description="YYYY-MM-DD (UTC), included; default: 29 days before `until`.")
UNTIL = Query(None, description="YYYY-MM-DD (UTC), included; default: today.")


MEDIANS = (
    f"Exact over a period of up to {EXACT_MEDIAN_DAYS} days, and per day in a report by day; over a longer"
    " period read from daily roll-ups kept as 1% log-spaced buckets, so within 0.5% of the exact median."
    " Counts, tokens and cost are always exact."
)


class UsageFigures(Schema):
    runs: int
    errors: int = Field(..., description="Runs that ended with status `error`.")
    input_tokens: int = Field(..., description="All input, cached included.")
    cached_input_tokens: int
    output_tokens: int = Field(..., description="Reasoning included.")
    reasoning_tokens: int
    cost: str = Field(..., description="US dollars, a decimal string: the exact sum of the runs' stored costs.")
    ttft_ms_p50: float | None = Field(..., description=f"Median time to first token. {MEDIANS}")
    tokens_per_s_p50: float | None = Field(..., description=f"Median output speed. {MEDIANS}")
    unpriced: int = Field(..., description="Runs with tokens but no price for their model: `cost` leaves them out.")


class UsageRow(UsageFigures):
    key: str = Field(..., description="The day (YYYY-MM-DD), model id, provider name, username or team id.")
    label: str = Field(..., description="The same for people: a model's or a person's name.")


class UsageOut(Schema):
    rows: list[UsageRow]
    total: UsageFigures


def _answer(report: Report, format: str, subject: str):
    if format == "csv":
        response = HttpResponse(as_csv(report), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{csv_filename(subject, report)}"'
        return response
    return payload(report)


@router.get("/teams/{team_id}/usage", response=answers({200: UsageOut}, 400, 403, 404), openapi_extra=CSV)
def team_usage(
    request,
    team_id: str,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    by: Literal["day", "model", "provider", "user"] = "day",
    format: Literal["json", "csv"] = "json",
):
    """The runs billed to the team, each on the UTC day it was created. `by=user` is for owners only."""
    mine = access.team_usage_for(request.user, team_id, per_person=by == "user")
    period = parse_period(since, until)
    return _answer(build(team_runs(mine.team, period), period, by), format, "team")


@router.get("/usage", response=answers({200: UsageOut}, 400), openapi_extra=CSV)
def my_usage(
    request,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    by: Literal["day", "model", "provider", "team"] = "day",
    format: Literal["json", "csv"] = "json",
):
    """The caller's own runs, in every team they were billed to."""
    period = parse_period(since, until)
    return _answer(build(person_runs(request.user, period), period, by), format, "mine")
