"""The figures of runs as reports show them, read from the roll-ups of closed days where there are some
(usage/rollups.py) and from the runs themselves for every other day (today, and any day not rolled up or
unmarked by a late write), so a year costs about as much as a few days.

- Counts and sums (runs, errors, tokens, cost) are exact whatever the period: a closed day's sums were
  computed from its runs and are dropped the moment one of them changes.
- Medians are exact for periods up to EXACT_MEDIAN_DAYS days (percentile_cont over every run), and so are
  the medians of a day-by-day report over any period (each closed day's exact median is rolled up). Over
  a longer period, the medians of a grouping other than the day, and of the total, are read from the
  merged 1% buckets of usage/histogram.py: within 0.5% of the exact median.

The number of queries does not grow with the period: the marks, the rolled-up rows, the runs of the days
not rolled up, and the medians, each in one query. SQLite (the embedded mode) has no roll-ups: there
everything is computed from the runs (usage.aggregate).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, timedelta
from decimal import Decimal

from django.contrib.postgres.aggregates import BitOr
from django.db.models import Count, F, Sum
from django.db.models.functions import TruncHour

from providers.models import Model
from usage import histogram, rollups
from usage.aggregate import KEYS, MEASURES, USAGE, Runs
from usage.aggregate import summarise as from_runs
from usage.models import DailyUsage, DayMedian, MonthlyHistogram
from usage.periods import Period

EXACT_MEDIAN_DAYS = 31
# A grouping key's column in the roll-up tables; `provider` is read per model and mapped to its account.
COLUMNS = {"day": "day", "model": "model_id", "provider": "model_id", "user": "user_id", "team": "team_id"}
MEDIAN_FIELDS = {"ttft_ms_p50": "ttft_ms", "tokens_per_s_p50": "tokens_per_s"}


def summarise(runs: Runs, keys: Sequence[str] = (), measures: Sequence[str] = USAGE) -> list[dict]:
    """What usage.aggregate.summarise gives for these runs (the same dicts, the same sums), from the
    roll-ups where they hold the period's days."""
    keys = tuple(keys)
    summed = [name for name in measures if MEASURES[name].how != "median"]
    medians = [name for name in measures if MEASURES[name].how == "median"]
    if (medians and len(runs.period.days) <= EXACT_MEDIAN_DAYS) or not set(keys) <= set(COLUMNS):
        # Exact medians read every run of the period anyway: the sums come with them in the same scan.
        return from_runs(runs, keys, measures)
    rolled = rollups.coverage(runs.period)
    if not rolled.days:
        return from_runs(runs, keys, measures)
    groups: dict[tuple, dict] = {}
    if summed:
        _add(groups, _daily_sums(runs, rolled.days, keys, summed), keys, summed)
        live = _days_not_in(runs, rolled.days)
        if live is not None:
            _add(groups, from_runs(live, keys, summed), keys, summed)
    if medians:
        for group in _medians(runs, rolled, keys, medians):
            groups.setdefault(tuple(group[key] for key in keys), {}).update({name: group[name] for name in medians})
    if not keys:
        groups.setdefault((), {})
    return [
        {**dict(zip(keys, group, strict=True)), **{name: figures.get(name, _nothing(name)) for name in measures}}
        for group, figures in groups.items()
    ]


def served_hours(runs: Runs) -> Counter:
    """Per model, the UTC clock hours in which at least one of the runs was created."""
    rolled = rollups.coverage(runs.period)
    hours: Counter = Counter()
    if rolled.days:
        masks = (
            _rolled(DailyUsage.objects, runs, rolled.days)
            .values("model_id", "day")
            .annotate(mask=BitOr("hours"))
            .values_list("model_id", "mask")
        )
        for model, mask in masks:
            hours[model] += mask.bit_count()
    live = _days_not_in(runs, rolled.days)
    if live is not None:
        served = live.nodes().order_by().annotate(hour=TruncHour("created_at", tzinfo=UTC))
        hours.update(model for model, _ in served.values_list("model_id", "hour").distinct())
    return hours


def _nothing(name: str):
    how = MEASURES[name].how
    if how == "median":
        return None
    return Decimal(0) if name == "cost" else 0


def _add(groups: dict, rows, keys: tuple, names: list[str]) -> None:
    for row in rows:
        figures = groups.setdefault(tuple(row[key] for key in keys), {})
        for name in names:
            figures[name] = figures.get(name, _nothing(name)) + row[name]


def _rolled(rows, runs: Runs, days):
    """The roll-up rows (DailyUsage, DayMedian or MonthlyHistogram) of `runs`' team, person and models."""
    rows = rows.filter(**({"day__in": days} if days is not None else {}))
    if runs.team is not None:
        rows = rows.filter(team_id=runs.team.pk)
    if runs.user is not None:
        rows = rows.filter(user_id=runs.user.pk)
    if runs.models is not None:
        rows = rows.filter(model_id__in=runs.models)
    return rows


def _daily_sums(runs: Runs, days, keys: tuple, names: list[str]) -> list[dict]:
    columns = {f"k_{key}": F(COLUMNS[key]) for key in keys}
    sums = {f"m_{name}": Sum(name) for name in names}
    found = _rolled(DailyUsage.objects, runs, sorted(days)).order_by()
    rows = found.values(**columns).annotate(**sums) if keys else [found.aggregate(**sums)]
    rows = [{**{key: row[f"k_{key}"] for key in keys}, **{n: row[f"m_{n}"] or 0 for n in names}} for row in rows]
    return _by_provider(rows, keys, names) if "provider" in keys else rows


def _by_provider(rows: list[dict], keys: tuple, names: list[str]) -> list[dict]:
    """Rows read per model (in `provider`), summed per provider account."""
    accounts = dict(Model.objects.filter(pk__in={row["provider"] for row in rows}).values_list("pk", "account_id"))
    merged: dict[tuple, dict] = {}
    for row in rows:
        row = {**row, "provider": accounts.get(row["provider"])}
        group = merged.setdefault(tuple(row[key] for key in keys), {key: row[key] for key in keys})
        for name in names:
            group[name] = group.get(name, 0) + row[name]
    return list(merged.values())


def _days_not_in(runs: Runs, days) -> Runs | None:
    """`runs` narrowed to the days of its period that are not in `days`; None when there are none."""
    missing = [day for day in runs.period.days if day not in days]
    return runs.on_days(_stretches(missing)) if missing else None


def _stretches(days: list[date]) -> tuple[Period, ...]:
    """Ordered days as stretches of consecutive ones."""
    stretches: list[Period] = []
    for day in days:
        if stretches and stretches[-1].until + timedelta(days=1) == day:
            stretches[-1] = Period(stretches[-1].since, day)
        else:
            stretches.append(Period(day, day))
    return tuple(stretches)


def _medians(runs: Runs, rolled: rollups.Coverage, keys: tuple, medians: list[str]) -> list[dict]:
    if "day" in keys:
        return _day_medians(runs, rolled, keys, medians)
    return _bucketed_medians(runs, rolled, keys, medians)


def _day_medians(runs: Runs, rolled: rollups.Coverage, keys: tuple, medians: list[str]) -> list[dict]:
    """Each day's exact medians: rolled up for a team's, a person's and a provider's days, else computed."""
    scope = _day_scope(runs, keys)
    if scope is None:
        return from_runs(runs, keys, medians)
    found = DayMedian.objects.filter(day__in=sorted(rolled.days), **scope)
    other = "account_id" if "provider" in keys else None
    rows = [
        {"day": row["day"], **({"provider": row[other]} if other else {}), **{name: row[name] for name in medians}}
        for row in found.values("day", *([other] if other else []), *medians)
    ]
    live = _days_not_in(runs, rolled.days)
    return rows + (from_runs(live, keys, medians) if live is not None else [])


def _day_scope(runs: Runs, keys: tuple) -> dict | None:
    if runs.models is not None:
        return None
    if keys == ("day",) and runs.team is not None and runs.user is None:
        return {"team_id": runs.team.pk}
    if keys == ("day",) and runs.user is not None and runs.team is None:
        return {"user_id": runs.user.pk}
    if set(keys) == {"day", "provider"} and runs.team is None and runs.user is None:
        return {"account_id__isnull": False}
    return None


def _bucketed_medians(runs: Runs, rolled: rollups.Coverage, keys: tuple, medians: list[str]) -> list[dict]:
    """Medians from the histograms of the months rolled up and the buckets of the other days' runs.

    A month the period covers only partly is used too where that reads fewer runs: its histogram, less the
    buckets of its days outside the period (counts subtract exactly). So the runs read directly are those of
    at most half a month at either end, and of the month not closed yet."""
    wanted = {histogram.MEASURES[MEDIAN_FIELDS[name]]: name for name in medians}
    period = set(runs.period.days)
    months, covered, outside = [], set(), set()
    for first, last in rolled.months:
        days = set(Period(first, last).days)
        if len(days - period) < len(days & period):
            months.append(first)
            covered |= days & period
            outside |= days - period
    counts: dict[tuple, dict[int, int]] = {}  # (group, measure) → bucket → count

    def add(rows, sign: int) -> None:
        for *group, measure, bucket, count in rows:
            found = counts.setdefault((tuple(group), measure), {})
            found[bucket] = found.get(bucket, 0) + sign * count

    if months:
        rows = _rolled(MonthlyHistogram.objects, runs, None).filter(
            month__in=months, by_user="user" in keys or runs.user is not None, measure__in=list(wanted)
        )
        add(
            rows.order_by().values_list(*(COLUMNS[key] for key in keys), "measure", "bucket").annotate(n=Sum("count")),
            1,
        )
    live = _days_not_in(runs, covered)
    if live is not None:
        add(_live_buckets(live, keys, wanted), 1)
    if outside:
        days = sorted(outside)
        beyond = replace(runs, period=Period(days[0], days[-1]), stretches=_stretches(days))
        add(_live_buckets(beyond, keys, wanted), -1)
    if "provider" in keys:
        counts = _buckets_by_provider(counts, keys)
    groups: dict[tuple, dict] = {}
    for (group, measure), buckets in counts.items():
        groups.setdefault(group, {})[wanted[measure]] = histogram.median(buckets)
    if not keys:
        groups.setdefault((), {})
    return [
        {**dict(zip(keys, group, strict=True)), **{name: figures.get(name) for name in medians}}
        for group, figures in groups.items()
    ]


def _live_buckets(runs: Runs, keys: tuple, wanted: dict) -> list[tuple]:
    """(keys…, measure, bucket, count) of the runs read directly, one query per measure."""
    found = []
    for measure, name in wanted.items():
        field = MEDIAN_FIELDS[name]
        found += [
            (*group, measure, bucket, count)
            for *group, bucket, count in runs.nodes()
            .filter(**{f"{field}__isnull": False})
            .order_by()
            .annotate(**{f"k_{key}": KEYS["model" if key == "provider" else key] for key in keys})
            .annotate(b=histogram.Bucket(field))
            .values_list(*(f"k_{key}" for key in keys), "b")
            .annotate(n=Count("*"))
        ]
    return found


def _buckets_by_provider(counts: dict, keys: tuple) -> dict:
    position = keys.index("provider")
    models = {group[position] for group, _ in counts}
    accounts = dict(Model.objects.filter(pk__in=models).values_list("pk", "account_id"))
    merged: dict[tuple, dict[int, int]] = {}
    for (group, measure), buckets in counts.items():
        group = (*group[:position], accounts.get(group[position]), *group[position + 1 :])
        found = merged.setdefault((group, measure), {})
        for bucket, count in buckets.items():
            found[bucket] = found.get(bucket, 0) + count
    return merged
