"""Limits checked before a run is created, so no provider is called and no node is made beyond them:
how many runs one user may have going at once, how much a team may spend in a calendar month (UTC), and
how much one person may spend in a team in that month (their membership's own budget).

All are checked in the transaction that creates the response nodes. The user's row is locked first
(SELECT … FOR UPDATE on PostgreSQL), so two prompts from one user at the same moment count each
other's nodes instead of both slipping under the limit; a team with a budget has its row locked next,
so prompts of several members take turns at its budget. SQLite takes its write lock when that
transaction begins, which serialises them just the same.

Spend counts against the team a response is billed to (`Node.billed_team`: the canvas's team when the
run was created), so moving a canvas moves no spend, and imported answers (billed to no team) never
count. A run's cost is known only when it ends, so each run still going holds a reservation of its
estimated cost (`run_estimate`): a budget refuses new runs once what is spent plus what is reserved
reaches it, and a burst of prompts can overshoot it by at most the last accepted prompt's runs, one
per model asked.

The errors here are the engine's own: the API layer maps `LimitExceeded.code` to an HTTP status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from canvas.models import RUNNING_STATUSES, Canvas, Membership, Node, NodeKind, Team
from config import sql
from engine.cost import cost_of
from providers.base import Usage
from providers.models import Model, Price
from usage.models import DailyUsage, RolledUp

# What a run still going is expected to cost, before its usage is known: its model's price in force
# for ESTIMATE_INPUT_TOKENS input tokens (a context of a few pages) and for its answer's length, which is
# the model's own max_tokens where its params set one and ESTIMATE_OUTPUT_TOKENS (a long answer)
# otherwise. A model without a price reserves nothing, as its runs cost nothing known.
ESTIMATE_INPUT_TOKENS = 4_000
ESTIMATE_OUTPUT_TOKENS = 4_000
_MAX_TOKENS_PARAMS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


class LimitExceeded(Exception):
    """A limit refuses new runs. `code` says which kind: "limit" (too many at once) or "budget" (money)."""

    code = "limit"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TooManyRuns(LimitExceeded):
    code = "limit"

    def __init__(self, running: int, wanted: int, limit: int):
        what = "run" if wanted == 1 else f"{wanted} runs"
        super().__init__(
            f"You have {running} runs going and at most {limit} may run at once, so this {what} cannot "
            "start yet. Wait for some to finish, or stop them, and try again."
        )


class BudgetSpent(LimitExceeded):
    """The team's monthly budget is spent (or held by runs still going)."""

    code = "budget"

    def __init__(self, team: Team, spend: Spend):
        super().__init__(
            f"{team.name} has spent ${_money(spend.spent)} of its ${_money(spend.budget)} budget for this month"
            f"{_held(spend)}, so no new runs can start. A team owner can raise the budget; it renews on the "
            "first of the month (UTC)."
        )


class PersonalBudgetSpent(LimitExceeded):
    """The person's own monthly budget in the team is spent (or held by their runs still going)."""

    code = "budget"

    def __init__(self, team: Team, spend: Spend):
        super().__init__(
            f"You have spent ${_money(spend.spent)} of your own ${_money(spend.budget)} budget in {team.name} "
            f"for this month{_held(spend)}, so no new runs can start. A team owner can raise your budget; it "
            "renews on the first of the month (UTC).",
        )


def _held(spend: Spend) -> str:
    return f", and runs still going may cost about ${_money(spend.reserved)} more" if spend.reserved else ""


@dataclass(frozen=True)
class Spend:
    """A team's (or one member's) month so far: what finished runs cost, what runs still going are
    expected to cost, and the budget (None: no limit)."""

    spent: Decimal
    reserved: Decimal
    budget: Decimal | None

    @property
    def committed(self) -> Decimal:
        return self.spent + self.reserved

    @property
    def exhausted(self) -> bool:
        return self.budget is not None and self.committed >= self.budget


def check_runs(user, canvas: Canvas, runs: int) -> list[dict]:
    """Refuse `runs` new responses for `user` on `canvas` if a limit forbids them (TooManyRuns,
    BudgetSpent, PersonalBudgetSpent). Call it in the transaction that creates them, before creating
    anything. Returns what the user should know once they start (budget_warnings), from the figures it read.

    A user's prompts wait for each other from the first statement here until their transaction ends,
    so this makes as few round trips as it can: one to take the locks, one to count after them."""
    team = canvas.team
    authenticated = user is not None and user.is_authenticated
    with transaction.atomic(savepoint=False):  # the caller's transaction: no savepoint round trips
        team_budget = team.monthly_budget_usd is not None
        own_budget = _lock_user(user, team, with_team=team_budget) if authenticated else None
        budgeted = team_budget or own_budget is not None
        if budgeted and not (authenticated and team_budget):
            # Members of one team prompting at the same moment take turns here, each counting the others' runs.
            sql.rows(f"SELECT id FROM {sql.table(Team)} WHERE id = %s{sql.for_update()}", [_team_key(team.pk)])
        running, ledger = _running_and_ledger(user if authenticated else None, team if budgeted else None)
        if running is not None:
            _check_running(running, runs)
        if ledger is None:
            return []
        spend = ledger.spend(team.monthly_budget_usd)
        if spend.exhausted:
            raise BudgetSpent(team, spend)
        mine = None
        if own_budget is not None:
            mine = ledger.spend(own_budget, user_id=user.pk)
            if mine.exhausted:
                raise PersonalBudgetSpent(team, mine)
        return budget_warnings(spend, mine)


def _lock_user(user, team: Team, with_team: bool) -> Decimal | None:
    """Lock the user's row, and the team's with it when `with_team` (its budget is checked); returns the
    user's own budget in the team (None: none), read in the same round trip. The locks last until the
    enclosing transaction ends: a concurrent prompt of the same user (or of the team, for its budget)
    waits here, then counts the nodes this one created (the counts are a statement of their own, so they
    see what that prompt committed)."""
    teams = f", {sql.table(Team)} t" if with_team else ""
    found = sql.rows(
        f"SELECT (SELECT m.monthly_budget_usd FROM {sql.table(Membership)} m WHERE m.team_id = %s AND m.user_id = u.id"
        f" LIMIT 1) FROM {sql.table(get_user_model())} u{teams} WHERE u.id = %s"
        f"{' AND t.id = %s' if with_team else ''}{sql.for_update()}",
        [_team_key(team.pk), user.pk, *([_team_key(team.pk)] if with_team else [])],
    )
    return sql.as_decimal(found[0][0]) if found else None


def _check_running(running: int, runs: int) -> None:
    limit = settings.PRISM_MAX_RUNS_PER_USER
    if running + runs > limit:
        raise TooManyRuns(running, runs, limit)


def _running_and_ledger(user, team: Team | None) -> tuple[int | None, _Ledger | None]:
    """In one statement: how many runs the user has going (None without a user), and the team's ledger
    for this month (None without a team)."""
    parts, params = [], []
    if user is not None:
        parts.append(
            f"SELECT 0, NULL, NULL, NULL, NULL, COUNT(*){_NO_RATE} FROM {sql.table(Node)}"
            f" WHERE created_by_id = %s AND kind = %s AND status IN ({_RUNNING})"
        )
        params += [user.pk, NodeKind.RESPONSE.value, *_RUNNING_VALUES]
    if team is not None:
        ledger_sql, ledger_params = _Ledger.statement(team)
        parts.append(ledger_sql)
        params += ledger_params
    if not parts:
        return None, None
    running, rows = None, []
    for part, *row in sql.rows(" UNION ALL ".join(parts), params):
        if part == 0:
            running = row[4]  # its COUNT(*): after four NULLs, before the rate's
        else:
            rows.append(row)
    return running, (_Ledger.of_rows(rows) if team is not None else None)


# The statements checked on every prompt are written out (config.sql says why); this module alone owns them.


_RUNNING = ", ".join(["%s"] * len(RUNNING_STATUSES))  # placeholders for the statuses of a run going on
_RUNNING_VALUES = [status.value for status in RUNNING_STATUSES]
# A ledger row's last columns: a model's price in force and its default parameters (`_rate_join`), or
# as many NULLs on the rows that reserve nothing.
_RATE = f", {sql.columns(Price, 'rp')}, rm.default_params"
_RATE_WIDTH = sql.width(Price) + 1
_NO_RATE = ", NULL" * _RATE_WIDTH


def _team_key(team_id) -> object:
    return sql.value(Team, "id", team_id)


def month_start(now: datetime | None = None) -> datetime:
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_spend(team: Team, user=None, now: datetime | None = None) -> Decimal:
    """What the responses billed to the team this calendar month (UTC) have cost so far; with `user`,
    only theirs. The usage pages count the same runs (billed team, UTC day of creation)."""
    return _Ledger.of(team, now).spend(None, user_id=None if user is None else user.pk).spent


def spend_summary(team: Team, user=None) -> Spend:
    """The team's month so far against its budget; with `user`, that member's own month in the team (their
    responses billed to it) against their own budget."""
    if user is None:
        return _Ledger.of(team).spend(team.monthly_budget_usd)
    return _Ledger.of(team).spend(_own_budget(team, user), user_id=user.pk)


def _own_budget(team: Team, user) -> Decimal | None:
    return Membership.objects.filter(team=team, user=user).values_list("monthly_budget_usd", flat=True).first()


def run_estimate(price: Price | None, default_params: dict | None, max_tokens: int | None = None) -> Decimal:
    """What a run of a model at `price` is expected to cost before its usage is known (see the constants);
    `max_tokens`: the length limit the run itself asked for, which wins over the model's."""
    output_tokens = ESTIMATE_OUTPUT_TOKENS
    for name in _MAX_TOKENS_PARAMS:
        value = max_tokens if max_tokens is not None else (default_params or {}).get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            output_tokens = value
            break
    return cost_of(Usage(input_tokens=ESTIMATE_INPUT_TOKENS, output_tokens=output_tokens), price) or Decimal(0)


@dataclass(frozen=True)
class _Ledger:
    """A team's responses this month, per (model, author): what they cost and how many are still going."""

    rows: list[dict]
    estimates: dict

    @classmethod
    def of(cls, team: Team, now: datetime | None = None) -> _Ledger:
        return cls.of_rows(sql.rows(*cls.statement(team, now)))

    @staticmethod
    def statement(team: Team, now: datetime | None = None) -> tuple[str, list]:
        """The SELECT of the team's rows this month (after a leading 1, to share a statement with others).

        On PostgreSQL the closed days come from the usage roll-ups (usage/rollups.py: a day's sums per
        model and person, which count only while the day's mark exists, and a trigger drops the mark the
        moment one of its runs changes) and only the other days from the runs: every prompt of a team with
        a budget reads this, inside the transaction that holds the team's lock, and read from the runs
        alone it cost 41–44 ms for a month of 80,000 answers, so a busy team's prompts got slower all
        month and took turns at that pace. One statement, one snapshot: a roll-up built meanwhile is seen
        whole (mark and sums) or not at all. Runs still going are never on a rolled-up day (a day is
        closed only once none of its runs is), so their counts come from the runs as before, each group
        with what its reservation is reckoned from (`_rate_join`)."""
        now = now or timezone.now()
        start = month_start(now)
        node, runs = sql.table(Node), "billed_team_id = %s AND kind = %s"
        team_key, response, month = _team_key(team.pk), NodeKind.RESPONSE.value, sql.value(Node, "created_at", start)
        rate_join, rate_params = _rate_join("g")
        if connection.vendor != "postgresql":  # no roll-ups (the embedded mode): every run of the month
            max_tokens = "json_extract(params, '$.max_tokens')"
            return (
                f"SELECT 1, g.model_id, g.created_by_id, g.tokens, g.spent, g.running{_RATE} FROM"
                f" (SELECT model_id, created_by_id, {max_tokens} AS tokens, SUM(cost) AS spent,"
                f" COUNT(CASE WHEN status IN ({_RUNNING}) THEN 1 END) AS running FROM {node} WHERE {runs}"
                f" AND created_at >= %s GROUP BY model_id, created_by_id, {max_tokens}) g{rate_join}",
                [*_RUNNING_VALUES, team_key, response, month, *rate_params],
            )
        max_tokens = "params ->> 'max_tokens'"
        first_day, today = start.date(), now.astimezone(UTC).date()
        # Parenthesised, as the statement may follow another in a UNION ALL (_running_and_ledger). The runs
        # going come first: PostgreSQL types a UNION's columns pair by pair, and two branches of NULLs
        # alone would make the rate's columns text.
        return (
            f"(WITH marked AS (SELECT first_day AS day FROM {sql.table(RolledUp)}"
            " WHERE first_day = last_day AND first_day >= %s AND first_day < %s)"
            # The runs going, with the length limit each asked for and their model's rate (what each
            # reserves): a few rows.
            f" SELECT 1, g.model_id, g.created_by_id, g.tokens, NULL, g.running{_RATE} FROM"
            f" (SELECT model_id, created_by_id, {max_tokens} AS tokens, COUNT(*) AS running FROM {node} WHERE {runs}"
            f" AND created_at >= %s AND status IN ({_RUNNING}) GROUP BY model_id, created_by_id, {max_tokens}) g"
            f"{rate_join}"
            f" UNION ALL SELECT 1, model_id, user_id, NULL, SUM(cost), 0{_NO_RATE} FROM {sql.table(DailyUsage)}"
            " WHERE team_id = %s AND day IN (SELECT day FROM marked) GROUP BY model_id, user_id"
            # The other days' runs, from the month's first day not rolled up (today at the latest: the
            # bound the index scan starts from), a later day rolled up (after one a late write unmarked)
            # left out.
            f" UNION ALL SELECT 1, model_id, created_by_id, NULL, SUM(cost), 0{_NO_RATE} FROM {node} WHERE {runs}"
            " AND created_at >= (SELECT COALESCE(MIN(day), %s::date)::timestamp AT TIME ZONE 'UTC'"
            " FROM (SELECT %s::date + i AS day FROM generate_series(0, %s::date - %s::date - 1) i) days"
            " WHERE day NOT IN (SELECT day FROM marked))"
            " AND (created_at AT TIME ZONE 'UTC')::date NOT IN (SELECT day FROM marked)"
            " GROUP BY model_id, created_by_id)",
            [
                *(first_day, today),
                *(team_key, response, month, *_RUNNING_VALUES, *rate_params),
                team_key,
                *(team_key, response, today, first_day, today, first_day),
            ],
        )

    @classmethod
    def of_rows(cls, found) -> _Ledger:
        rows, rates = [], {}
        for row in found:
            *_, model_id, created_by_id, tokens, spent, running = row[:-_RATE_WIDTH]
            model_id = sql.as_uuid(model_id)
            rows.append(
                {
                    "model_id": model_id,
                    "created_by_id": created_by_id,
                    "max_tokens": _tokens(tokens),
                    "spent": sql.as_decimal(spent),
                    "running": running,
                }
            )
            if running and model_id and model_id not in rates:
                rates[model_id] = _rate(row[-_RATE_WIDTH:])
        going = {(row["model_id"], row["max_tokens"]) for row in rows if row["running"] and row["model_id"]}
        return cls(rows, {(model_id, tokens): run_estimate(*rates[model_id], tokens) for model_id, tokens in going})

    def spend(self, budget: Decimal | None, user_id=None) -> Spend:
        rows = [row for row in self.rows if user_id is None or row["created_by_id"] == user_id]
        spent = sum((row["spent"] or Decimal(0) for row in rows), Decimal(0))
        reserved = sum(
            (row["running"] * self.estimates.get((row["model_id"], row["max_tokens"]), 0) for row in rows),
            Decimal(0),
        )
        return Spend(spent=spent, reserved=reserved, budget=budget)


def _tokens(value) -> int | None:
    """A run's own max_tokens as the ledger reads it (text from the JSON field), or None."""
    return int(value) if value not in (None, "") else None


def _rate_join(alias: str) -> tuple[str, list]:
    """The joins that give each row of `alias` (a model's runs going) what its reservation is reckoned
    from: the model's price in force now, whatever month the ledger reads (NULLs without one), and its
    default parameters (`_RATE`'s columns). In the ledger's own statement, not one of its own: a prompt
    reads it under the team's lock."""
    price = sql.table(Price)
    return (
        f" LEFT JOIN {sql.table(Model)} rm ON rm.id = {alias}.model_id"
        f" LEFT JOIN {price} rp ON rp.id = (SELECT p.id FROM {price} p WHERE p.model_id = {alias}.model_id"
        " AND p.effective_from <= %s ORDER BY p.effective_from DESC LIMIT 1)",
        [sql.value(Price, "effective_from", timezone.now())],
    )


def _rate(values) -> tuple[Price | None, dict]:
    """A running row's `_RATE` columns: its model's price in force (None: none) and default parameters."""
    *price_row, default_params = values
    price = None if price_row[sql.position(Price, "id")] is None else sql.load(Price, price_row)
    return price, sql.field_value(Model, "default_params", default_params) or {}


def budget_warnings(team: Spend, own: Spend | None = None) -> list[dict]:
    """What a user starting runs should know: the team's budget (`team`), or their own budget in the team
    (`own`), nearing its end. What is spent counts, not what runs still going hold."""
    ratio = Decimal(str(settings.PRISM_BUDGET_WARN_RATIO))
    nearing = [("this month's budget", team), ("your own budget this month", own)]
    return [
        {"code": "budget", "message": _nearing(what, spend.spent, spend.budget)}
        for what, spend in nearing
        if spend is not None and spend.budget and spend.spent >= ratio * spend.budget
    ]


def _nearing(what: str, spent: Decimal, budget: Decimal) -> str:
    percent = min(100, int(spent * 100 / budget))
    return f"{percent}% of {what} is spent (${_money(spent)} of ${_money(budget)})."


def _money(value: Decimal) -> str:
    """Dollars and cents, with more decimals (up to 8) where cents would round the amount to another:
    "$0.0131 of $0.01", never "$0.01 of $0.01"."""
    decimals = -value.normalize().as_tuple().exponent
    return format(value.quantize(Decimal(1).scaleb(-min(max(decimals, 2), 8))), "f")
