"""Monthly budgets: what a team, and each person in it, has spent this calendar month (UTC) against the
budget an owner set, and setting those budgets.

Spend is the usage aggregation over the runs billed to the team since the first of the month, so the
usage page, the budget bars and the engine's refusals (engine/limits.py) all count the same runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings

from canvas.errors import invalid
from canvas.models import Membership, Team
from usage.aggregate import team_runs
from usage.periods import Period, this_month
from usage.summary import summarise

# Membership.monthly_budget_usd and Team.monthly_budget_usd: 12 digits, 2 after the point.
MAX_BUDGET = Decimal("9999999999.99")


@dataclass(frozen=True)
class Standing:
    """Spend against a budget (None: no budget)."""

    spent: Decimal
    budget: Decimal | None

    @property
    def state(self) -> str:
        """ "none" (no budget), "ok", "warn" (past PRISM_BUDGET_WARN_RATIO of it) or "spent" (no new runs)."""
        if self.budget is None:
            return "none"
        if self.spent >= self.budget:
            return "spent"
        if self.spent >= Decimal(str(settings.PRISM_BUDGET_WARN_RATIO)) * self.budget:
            return "warn"
        return "ok"

    @property
    def percent(self) -> int | None:
        if self.budget is None:
            return None
        if not self.budget:
            return 100
        return int(self.spent * 100 / self.budget)

    @property
    def warn_at(self) -> Decimal | None:
        return None if self.budget is None else Decimal(str(settings.PRISM_BUDGET_WARN_RATIO)) * self.budget


@dataclass(frozen=True)
class TeamBudgets:
    month: Period
    team: Standing
    people: list[tuple[Membership, Standing]]  # everyone for an owner; only oneself for anyone else


def team_budgets(mine: Membership, now: datetime | None = None) -> TeamBudgets:
    """The team's standing and its people's, as `mine` (the viewer's membership) may see them."""
    team = mine.team
    month = this_month(now)
    by_person = {row["user"]: row["cost"] for row in summarise(team_runs(team, month), ["user"], ("cost",))}
    members = team.memberships.select_related("user").order_by("user__username")
    if mine.role != "owner":
        members = members.filter(pk=mine.pk)
    people = [(m, Standing(by_person.get(m.user_id, Decimal(0)), m.monthly_budget_usd)) for m in members]
    return TeamBudgets(month, Standing(sum(by_person.values(), Decimal(0)), team.monthly_budget_usd), people)


def parse_budget(raw: str | None) -> Decimal | None:
    """A budget typed into a form: empty for none, else US dollars with at most two decimals."""
    raw = (raw or "").strip().removeprefix("$").replace(",", "")
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if (
        value is None
        or not value.is_finite()
        or value < 0
        or value > MAX_BUDGET
        or value != value.quantize(Decimal("0.01"))
    ):
        raise invalid(f"A budget is an amount in US dollars from 0 to {MAX_BUDGET:,}, with at most two decimals.")
    return value.quantize(Decimal("0.01"))


def set_team_budget(team: Team, budget: Decimal | None) -> None:
    team.monthly_budget_usd = budget
    team.save(update_fields=["monthly_budget_usd"])


def set_member_budget(member: Membership, budget: Decimal | None) -> None:
    member.monthly_budget_usd = budget
    member.save(update_fields=["monthly_budget_usd"])
