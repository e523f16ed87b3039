"""The team's leaderboard page (/teams/{id}/leaderboard/): the ratings table, the rating–cost chart, the
judge agreement and the cost estimates. Server-rendered; htmx asks for the same view again when a
filter, a sort or a page changes, and gets only the board's template (request.htmx) to swap in."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from canvas import access
from evaluation import board
from evaluation.scope import Scope, team_tags

PAGE_SIZE = 25
PERIODS = [("", "All time"), ("7", "Last 7 days"), ("30", "Last 30 days"), ("90", "Last 90 days"),
           ("365", "Last year")]  # fmt: skip
JUDGES = [("human", "People"), ("model", "Judge models"), ("all", "Everyone")]
# (key, heading, first direction): the columns a person can sort by.
COLUMNS = [
    ("display_name", "Model", "asc"),
    ("rating", "Rating", "desc"),
    ("votes", "Votes", "desc"),
    ("win_rate", "Win rate", "desc"),
    ("cost_per_answer_p50", "Cost / answer (p50)", "asc"),
    ("ttft_ms_p50", "First token (p50)", "asc"),
    ("tokens_per_s_p50", "Tokens/s (p50)", "desc"),
]
_SORTABLE = {key for key, *_ in COLUMNS}


@login_required
@require_GET
def team_leaderboard(request, team_id):
    mine = access.membership_for(request.user, team_id)
    query = request.GET
    filters = {"judge": query.get("judge") or "human", "period": query.get("period", ""), "tag": query.get("tag", "")}
    error = ""
    try:
        scope = Scope.parse(filters["judge"], _since(filters["period"]) or query.get("since"), query.get("until"),
                            filters["tag"])  # fmt: skip
    except ValueError as exc:
        error, scope = str(exc), Scope()
    result = board.leaderboard(mine.team, scope)
    sort = query.get("sort") if query.get("sort") in _SORTABLE else "rating"
    direction = "asc" if query.get("dir") == "asc" else "desc"
    rows = sorted_rows(result["models"], sort, direction)
    page = Paginator(rows, PAGE_SIZE).get_page(query.get("page"))
    kept = {k: v for k, v in filters.items() if v} | {"sort": sort, "dir": direction}
    context = {
        "team": mine.team,
        "result": result,
        "page": page,
        "filters": filters,
        "error": error,
        "periods": PERIODS,
        "judges": JUDGES,
        "tags": team_tags(mine.team),
        "columns": _columns(kept, sort, direction),
        "page_query": urlencode(kept),
        "chart": chart_points(result["models"]),
    }
    template = "evaluation/_board.html" if request.htmx else "evaluation/leaderboard.html"
    return render(request, template, context)


def _since(period: str) -> str | None:
    """The first day of the last `period` days (today included), or None for all time."""
    if not period.isdigit() or not 0 < int(period) <= 3650:
        return None
    return (timezone.now().date() - timedelta(days=int(period) - 1)).isoformat()


def sorted_rows(rows: list[dict], sort: str, direction: str) -> list[dict]:
    """Sorted by one column; rows without a figure there (a model with no price, say) always last."""

    def value(row):
        v = row[sort]
        if sort == "cost_per_answer_p50" and v is not None:
            return float(v)
        return v.lower() if isinstance(v, str) else v

    present = [r for r in rows if r[sort] is not None]
    missing = [r for r in rows if r[sort] is None]
    return sorted(present, key=value, reverse=direction == "desc") + missing


def _columns(kept: dict, sort: str, direction: str) -> list[dict]:
    columns = []
    for key, heading, first in COLUMNS:
        current = key == sort
        then = ("asc" if direction == "desc" else "desc") if current else first
        columns.append({
            "key": key,
            "heading": heading,
            "query": urlencode(kept | {"sort": key, "dir": then}),
            "aria_sort": ("ascending" if direction == "asc" else "descending") if current else "none",
        })  # fmt: skip
    return columns


def chart_points(rows: list[dict]) -> dict:
    """What the rating–cost chart draws: models with a median cost, and the names of those without."""
    points = [
        {"name": r["display_name"], "cost": float(r["cost_per_answer_p50"]), "rating": r["rating"],
         "low": r["ci"][0], "high": r["ci"][1], "self_hosted": r["self_hosted"]}
        for r in rows
        if r["cost_per_answer_p50"] is not None
    ]  # fmt: skip
    return {"points": points, "unpriced": [r["display_name"] for r in rows if r["cost_per_answer_p50"] is None]}
