"""Limits checked before a run is created, so no provider is called and no node is made beyond them:
how many runs one user may have going at once, and how much a team may spend in a calendar month.

Both are checked in the transaction that creates the response nodes. The user's row is locked first
(SELECT … FOR UPDATE on PostgreSQL), so two prompts from one user at the same moment count each
other's nodes instead of both slipping under the limit; SQLite takes its write lock when that
transaction begins, which serialises them just the same. The budget is a soft ceiling: a run's cost is
known when it ends, so runs already going may carry a team a little past it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from canvas.errors import ApiError
from canvas.models import RUNNING_STATUSES, Canvas, Node, NodeKind, Team


class TooManyRuns(ApiError):
    def __init__(self, running: int, wanted: int, limit: int):
        what = "run" if wanted == 1 else f"{wanted} runs"
        super().__init__(
            429,
            "limit",
            f"You have {running} runs going and at most {limit} may run at once, so this {what} cannot "
            "start yet. Wait for some to finish, or stop them, and try again.",
        )


class BudgetSpent(ApiError):
    def __init__(self, team: Team, spent: Decimal, budget: Decimal):
        super().__init__(
            402,
            "budget",
            f"{team.name} has spent ${_money(spent)} of its ${_money(budget)} budget for this month, so no "
            "new runs can start. A team owner can raise the budget; it renews on the first of the month (UTC).",
        )


def check_runs(user, canvas: Canvas, runs: int) -> None:
    """Refuse `runs` new responses for `user` on `canvas` if a limit forbids them (TooManyRuns,
    BudgetSpent). Call it in the transaction that creates them, before creating anything."""
    with transaction.atomic(savepoint=False):  # the caller's transaction: no savepoint round trips
        if user is not None and user.is_authenticated:
            _check_user(user, runs)
        team = canvas.team
        if team.monthly_budget_usd is not None:
            spent = month_spend(team)
            if spent >= team.monthly_budget_usd:
                raise BudgetSpent(team, spent, team.monthly_budget_usd)


def _check_user(user, runs: int) -> None:
    limit = settings.PRISM_MAX_RUNS_PER_USER
    # The lock lasts until the enclosing transaction ends: a concurrent prompt of the same user waits
    # here and then counts the nodes this one created.
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
    running = Node.objects.filter(created_by=user, kind=NodeKind.RESPONSE, status__in=RUNNING_STATUSES).count()
    if running + runs > limit:
        raise TooManyRuns(running, runs, limit)


def month_start(now: datetime | None = None) -> datetime:
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_spend(team: Team) -> Decimal:
    """What the team's responses created this calendar month (UTC) have cost so far."""
    total = Node.objects.filter(
        canvas__team=team, kind=NodeKind.RESPONSE, created_at__gte=month_start(), cost__isnull=False
    ).aggregate(total=Sum("cost"))["total"]
    return total or Decimal(0)


def warnings_for(canvas: Canvas) -> list[dict]:
    """What a user starting runs on `canvas` should know: the team's budget nearing its end."""
    team = canvas.team
    budget = team.monthly_budget_usd
    if not budget:
        return []
    spent = month_spend(team)
    if spent < Decimal(str(settings.PRISM_BUDGET_WARN_RATIO)) * budget:
        return []
    percent = min(100, int(spent * 100 / budget))
    message = f"{percent}% of this month's budget is spent (${_money(spent)} of ${_money(budget)})."
    return [{"code": "budget", "message": message}]


def _money(value: Decimal) -> str:
    """Dollars and cents, with more decimals (up to 8) where cents would round the amount to another:
    "$0.0131 of $0.01", never "$0.01 of $0.01"."""
    decimals = -value.normalize().as_tuple().exponent
    return format(value.quantize(Decimal(1).scaleb(-min(max(decimals, 2), 8))), "f")
