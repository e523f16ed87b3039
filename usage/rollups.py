"""Building the usage roll-ups of closed days (PostgreSQL only), and knowing which days they hold.

How they stay exact:
- A day is rolled up only once it is CLOSED: it ended (UTC) and none of its runs is queued or streaming.
  Its rows are then computed by the same sums as a report over the runs themselves (COUNT, SUM of the
  numeric costs), so they equal those sums to the last digit on the day they are built.
- They stay equal because a day's rows count only while its `RolledUp` mark exists, and a trigger on the
  node table (usage/migrations/0002) deletes the marks of the day of every row it sees change, in the
  writer's own transaction: a response inserted, deleted (a canvas or team deleted, cascades included) or
  updated in anything a report reads (team, day, model, person, status, error code, tokens, cost, speeds).
  No code path has to remember it: the runner's final save, the sweeper, a cancellation, the last-resort
  ending, an admin edit, a person deleted (their runs' author set to null) all go through it. A day
  unmarked is read from its runs again (usage/summary.py) until the next build.
- A build and a writer cannot miss each other: the trigger holds a shared advisory lock on the day of each
  row it sees until its transaction ends, and a build takes that lock exclusively before it reads the
  day (or skips the day, to try it again later, while a writer holds it). A writer that commits before
  the build's lock is in what the build reads; one that comes after waits for the build to commit and then
  deletes its fresh mark.

Each day gets its sums per (team, model, person) with the hours that had runs, and the exact medians per
team, per person and per provider account; each closed calendar month gets its histograms
(usage/histogram.py) for the medians of long periods.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from channels.db import database_sync_to_async
from django.db import connection, transaction
from django.utils import timezone

from canvas.models import RUNNING_STATUSES, USAGE_FIGURES, Node, NodeKind, NodeStatus
from providers import periodic
from providers.models import Model
from usage.histogram import MEASURES, bucket_sql
from usage.models import DailyUsage, DayMedian, MonthlyHistogram, RolledUp
from usage.periods import Period, today

# The advisory locks of days: (LOCKS, days since EPOCH). The trigger uses the same numbers.
LOCKS = 1347569491
EPOCH = date(2000, 1, 1)


@dataclass(frozen=True)
class Built:
    days: int
    months: int
    skipped: int  # closed days or months left for later: a run still going, or a writer holding the day


@dataclass(frozen=True)
class Coverage:
    """What is rolled up for a period: its single days, and the whole months (first day, last day) that
    overlap it."""

    days: frozenset
    months: tuple


def available() -> bool:
    return connection.vendor == "postgresql"


def coverage(period: Period) -> Coverage:
    """The days rolled up within `period`, and the months rolled up that overlap it (one query)."""
    if not available():
        return Coverage(frozenset(), ())
    marks = RolledUp.objects.filter(first_day__lte=period.until, last_day__gte=period.since).values_list(
        "first_day", "last_day"
    )
    days, months = set(), []
    for first, last in marks:
        if first == last:
            days.add(first)
        else:
            months.append((first, last))
    return Coverage(frozenset(days), tuple(sorted(months)))


def build(now: datetime | None = None, rebuild: bool = False) -> Built:
    """Roll up every closed day and month not rolled up yet (with `rebuild`, all of them again)."""
    if not available():
        return Built(0, 0, 0)
    first = _runs().order_by("created_at").values_list("created_at", flat=True).first()
    if first is None:
        return Built(0, 0, 0)
    if rebuild:
        RolledUp.objects.all().delete()
    closed_before = today(now)
    marked = set(RolledUp.objects.values_list("first_day", "last_day"))
    going = _days_with_runs_going()
    days = months = skipped = 0
    day = _utc_day(first)
    while day < closed_before:
        if (day, day) not in marked:
            if day not in going and build_day(day):
                days += 1
            else:
                skipped += 1
        day += timedelta(days=1)
    month = _utc_day(first).replace(day=1)
    while _month_end(month) < closed_before:
        last = _month_end(month)
        if (month, last) not in marked:
            if not any(month <= d <= last for d in going) and build_month(month):
                months += 1
            else:
                skipped += 1
        month = last + timedelta(days=1)
    return Built(days, months, skipped)


async def keep_rolled_up(interval_s: float) -> None:
    """The embedded mode's stand-in for Celery beat's `usage.tasks.build_rollups` (PostgreSQL only)."""
    await periodic.every(interval_s, database_sync_to_async(build), "Rolling up the usage of closed days")


def build_day(day: date) -> bool:
    """Roll one closed day up (replacing what it had); False when it cannot be now."""
    start, end = _bounds(day, day)
    with transaction.atomic():
        if not _lock([day]) or _runs_going(start, end):
            return False
        DailyUsage.objects.filter(day=day).delete()
        DayMedian.objects.filter(day=day).delete()
        RolledUp.objects.filter(first_day=day, last_day=day).delete()
        with connection.cursor() as cursor:
            cursor.execute(_DAY_SUMS.format(**_names()), _params(day, start, end))
            cursor.execute(_DAY_MEDIANS.format(**_names()), _params(day, start, end))
        RolledUp.objects.create(first_day=day, last_day=day, built_at=timezone.now())
    return True


def build_month(first: date) -> bool:
    """Roll one closed calendar month's histograms up (replacing what it had); False when it cannot be now."""
    last = _month_end(first)
    start, end = _bounds(first, last)
    with transaction.atomic():
        if not _lock(Period(first, last).days) or _runs_going(start, end):
            return False
        MonthlyHistogram.objects.filter(month=first).delete()
        RolledUp.objects.filter(first_day=first, last_day=last).delete()
        with connection.cursor() as cursor:
            for field, measure in MEASURES.items():
                column = f"n.{_quoted(Node, field)}"
                names = _names() | {"value": column, "bucket": bucket_sql(column)}
                cursor.execute(_MONTH_BUCKETS.format(**names), _params(first, start, end) | {"measure": measure})
            cursor.execute(_MONTH_EVERYONE.format(**_names()), {"month": first})
        RolledUp.objects.create(first_day=first, last_day=last, built_at=timezone.now())
    return True


def _lock(days: list[date]) -> bool:
    """Take the days' locks for this transaction, without waiting (a wait, holding others, could deadlock
    with a writer of several days); False when a writer holds one."""
    with connection.cursor() as cursor:
        for day in days:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [LOCKS, (day - EPOCH).days])
            if not cursor.fetchone()[0]:
                return False
    return True


def _runs():
    return Node.objects.filter(kind=NodeKind.RESPONSE, billed_team__isnull=False)


def _runs_going(start: datetime, end: datetime) -> bool:
    return _runs().filter(status__in=RUNNING_STATUSES, created_at__gte=start, created_at__lt=end).exists()


def _days_with_runs_going() -> set[date]:
    return {_utc_day(at) for at in _runs().filter(status__in=RUNNING_STATUSES).values_list("created_at", flat=True)}


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _month_end(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _bounds(first: date, last: date) -> tuple[datetime, datetime]:
    return datetime.combine(first, time.min, tzinfo=UTC), datetime.combine(last + timedelta(days=1), time.min, UTC)


def _quoted(model, field: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(field).column)


def _names() -> dict:
    names = {
        "node": connection.ops.quote_name(Node._meta.db_table),
        "model_table": connection.ops.quote_name(Model._meta.db_table),
        "daily": connection.ops.quote_name(DailyUsage._meta.db_table),
        "medians": connection.ops.quote_name(DayMedian._meta.db_table),
        "histogram": connection.ops.quote_name(MonthlyHistogram._meta.db_table),
        "account": _quoted(Model, "account"),
    }
    for field in ("kind", "billed_team", "created_at", *USAGE_FIGURES):
        names[field] = f"n.{_quoted(Node, field)}"
    return names


def _params(day: date, start: datetime, end: datetime) -> dict:
    return {
        "day": day,
        "start": start,
        "end": end,
        "response": NodeKind.RESPONSE,
        "error": NodeStatus.ERROR,
        "rate_limited": "rate_limited",
    }


_RUNS_OF_THE_DAYS = """
    {kind} = %(response)s AND {billed_team} IS NOT NULL AND {created_at} >= %(start)s AND {created_at} < %(end)s
"""

# The same figures as usage.aggregate.MEASURES, per (team, model, person).
_DAY_SUMS = (
    """
INSERT INTO {daily} (day, team_id, model_id, user_id, runs, errors, rate_limited, input_tokens,
                     cached_input_tokens, output_tokens, reasoning_tokens, cost, unpriced, hours)
SELECT %(day)s, {billed_team}, {model}, {created_by}, COUNT(*),
       COUNT(*) FILTER (WHERE {status} = %(error)s), COUNT(*) FILTER (WHERE {error_code} = %(rate_limited)s),
       COALESCE(SUM({input_tokens}), 0), COALESCE(SUM({cached_input_tokens}), 0),
       COALESCE(SUM({output_tokens}), 0), COALESCE(SUM({reasoning_tokens}), 0), COALESCE(SUM({cost}), 0),
       COUNT(*) FILTER (WHERE {cost} IS NULL AND ({input_tokens} > 0 OR {output_tokens} > 0)),
       BIT_OR(1 << EXTRACT(HOUR FROM {created_at} AT TIME ZONE 'UTC')::int)
FROM {node} n
WHERE """
    + _RUNS_OF_THE_DAYS
    + """
GROUP BY {billed_team}, {model}, {created_by}
"""
)

_MEDIANS = (
    "PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY {ttft_ms}),"
    " PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY {tokens_per_s})"
)
_DAY_MEDIANS = (
    """
INSERT INTO {medians} (day, team_id, user_id, account_id, ttft_ms_p50, tokens_per_s_p50)
SELECT %(day)s, {billed_team}, NULL::integer, NULL::uuid, """
    + _MEDIANS
    + """ FROM {node} n WHERE """
    + _RUNS_OF_THE_DAYS
    + """ GROUP BY {billed_team}
UNION ALL
SELECT %(day)s, NULL::uuid, {created_by}, NULL::uuid, """
    + _MEDIANS
    + """ FROM {node} n WHERE {created_by} IS NOT NULL AND """
    + _RUNS_OF_THE_DAYS
    + """ GROUP BY {created_by}
UNION ALL
SELECT %(day)s, NULL::uuid, NULL::integer, m.{account}, """
    + _MEDIANS
    + """ FROM {node} n JOIN {model_table} m ON m.id = {model} WHERE """
    + _RUNS_OF_THE_DAYS
    + """ GROUP BY m.{account}
"""
)

_MONTH_BUCKETS = (
    """
INSERT INTO {histogram} (month, team_id, model_id, by_user, user_id, measure, bucket, count)
SELECT %(day)s, {billed_team}, {model}, true, {created_by}, %(measure)s, {bucket}, COUNT(*)
FROM {node} n
WHERE {value} IS NOT NULL AND """
    + _RUNS_OF_THE_DAYS
    + """
GROUP BY {billed_team}, {model}, {created_by}, {bucket}
"""
)

# Every person's runs together: what a team's report by model, provider or day needs, ten to a hundred
# times fewer rows to read than per person.
_MONTH_EVERYONE = """
INSERT INTO {histogram} (month, team_id, model_id, by_user, user_id, measure, bucket, count)
SELECT month, team_id, model_id, false, NULL, measure, bucket, SUM(count)
FROM {histogram}
WHERE month = %(month)s AND by_user
GROUP BY month, team_id, model_id, measure, bucket
"""
