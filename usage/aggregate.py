"""Counts, sums and medians of the figures stored on each run, grouped by day, model, provider, person or
team: the one aggregation behind usage reports, charts, provider health and budgets.

PostgreSQL does it all in the database: GROUP BY with COUNT and SUM (exact: `cost` is a numeric column)
and percentile_cont for medians. SQLite (the embedded mode) has no ordered-set aggregate and keeps
decimals as floating point, so there the same figures are computed in Python from the stored values,
exactly; the tests check that both ways give the same answer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC
from decimal import Decimal

from django.db import connections, transaction
from django.db.models import Aggregate, BigIntegerField, Count, DecimalField, F, FloatField, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate, TruncHour

from canvas.models import UNPRICED, Node, NodeKind, NodeStatus, unpriced
from usage.periods import Period


class Median(Aggregate):
    """percentile_cont(0.5): the middle value, or the mean of the two middle ones (PostgreSQL)."""

    function = "PERCENTILE_CONT"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


MONEY = DecimalField(max_digits=30, decimal_places=10)
# A median sorts every value of its group. PostgreSQL's default work_mem (4 MB, some 100,000 values) sends
# a year of a busy team's runs to disk, several times slower; for the one query that sorts, allow more.
MEDIAN_SORT_MEMORY = "128MB"

# What a run can be grouped by. A run's day is the UTC day it was created.
KEYS = {
    "day": TruncDate("created_at", tzinfo=UTC),
    "hour": TruncHour("created_at", tzinfo=UTC),
    "model": F("model_id"),
    "provider": F("model__account_id"),
    "user": F("created_by_id"),
    "team": F("billed_team_id"),
}


@dataclass(frozen=True)
class Measure:
    """One figure of a group: how it is computed in the database, and the same computed in Python."""

    how: str  # "count", "count_where", "unpriced", "sum" or "median"
    field: str | None = None
    equals: str | None = None  # count_where: the value `field` must have

    @property
    def fields(self) -> tuple[str, ...]:
        """The run's columns it reads."""
        if self.how == "unpriced":
            return ("cost", "input_tokens", "output_tokens")
        return () if self.field is None else (self.field,)

    def expression(self):
        # Counted by what the usage index holds (COUNT(*), or the filtered column), never by the primary
        # key, which the index lacks: counting by it would send PostgreSQL back to the table for each run.
        if self.how == "count":
            return Count("*")
        if self.how == "count_where":
            return Count(self.field, filter=Q(**{self.field: self.equals}))
        if self.how == "unpriced":
            return Count("status", filter=UNPRICED)
        if self.how == "sum":
            if self.field == "cost":
                return Coalesce(Sum("cost"), Decimal(0), output_field=MONEY)
            return Coalesce(Sum(self.field), 0, output_field=BigIntegerField())
        return Median(self.field)

    def reduce(self, columns: dict[str, tuple], count: int):
        if self.how == "count":
            return count
        if self.how == "unpriced":
            runs = zip(columns["cost"], columns["input_tokens"], columns["output_tokens"], strict=True)
            return sum(1 for run in runs if unpriced(*run))
        values = columns[self.field]
        if self.how == "count_where":
            return sum(1 for value in values if value == self.equals)
        present = [value for value in values if value is not None]
        if self.how == "sum":
            return sum(present, Decimal(0) if self.field == "cost" else 0)
        return median(present)


def median(values: list) -> float | None:
    """What percentile_cont(0.5) gives, computed the way PostgreSQL computes it (lo + (hi - lo) * 0.5),
    so both databases agree to the last bit."""
    if not values:
        return None
    ordered = sorted(float(v) for v in values)
    middle = (len(ordered) - 1) / 2
    low, high = ordered[int(middle)], ordered[-int(middle) - 1]
    return low + (high - low) * 0.5


MEASURES = {
    "runs": Measure("count"),
    "errors": Measure("count_where", "status", NodeStatus.ERROR),
    "rate_limited": Measure("count_where", "error_code", "rate_limited"),
    "input_tokens": Measure("sum", "input_tokens"),
    "cached_input_tokens": Measure("sum", "cached_input_tokens"),
    "output_tokens": Measure("sum", "output_tokens"),
    "reasoning_tokens": Measure("sum", "reasoning_tokens"),
    "cost": Measure("sum", "cost"),
    "unpriced": Measure("unpriced"),  # canvas.models.UNPRICED
    "ttft_ms_p50": Measure("median", "ttft_ms"),
    "tokens_per_s_p50": Measure("median", "tokens_per_s"),
}
# The figures of a usage row, in the order the API and the CSV give them.
USAGE = (
    "runs",
    "errors",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost",
    "ttft_ms_p50",
    "tokens_per_s_p50",
    "unpriced",
)


@dataclass(frozen=True)
class Runs:
    """The runs a figure is about: those created in `period` billed to some team (imported answers never
    count), narrowed to one team's, one person's (in every team) and/or some models'."""

    period: Period
    team: object | None = None
    user: object | None = None
    models: frozenset | None = None
    stretches: tuple[Period, ...] | None = None  # only these days of the period (usage.summary)

    def nodes(self) -> QuerySet:
        period = self.period
        runs = Node.objects.filter(
            kind=NodeKind.RESPONSE, billed_team__isnull=False, created_at__gte=period.start, created_at__lt=period.end
        )
        if self.stretches is not None:
            within = Q()
            for stretch in self.stretches:
                within |= Q(created_at__gte=stretch.start, created_at__lt=stretch.end)
            runs = runs.filter(within)
        if self.team is not None:
            runs = runs.filter(billed_team=self.team)
        if self.user is not None:
            runs = runs.filter(created_by=self.user)
        if self.models is not None:
            runs = runs.filter(model__in=self.models)
        return runs

    def of_models(self, model_ids) -> Runs:
        return replace(self, models=frozenset(model_ids))

    def on_days(self, stretches: tuple[Period, ...]) -> Runs:
        return replace(self, stretches=stretches)


def runs_in(period: Period) -> Runs:
    return Runs(period)


def team_runs(team, period: Period) -> Runs:
    return Runs(period, team=team)


def person_runs(user, period: Period) -> Runs:
    return Runs(period, user=user)


def summarise(runs: Runs | QuerySet, keys: Sequence[str] = (), measures: Sequence[str] = USAGE) -> list[dict]:
    """One dict per group of `runs` (by the KEYS named), holding the keys' values and the measures; with
    no keys, exactly one dict for all of them (zeros when there are none). Computed from the runs
    themselves (usage.summary reads the roll-ups of closed days instead)."""
    if isinstance(runs, Runs):
        runs = runs.nodes()
    if connections[runs.db].vendor == "postgresql":
        return _in_database(runs, keys, measures)
    return _in_python(runs, keys, measures)


def _in_database(runs: QuerySet, keys: Sequence[str], measures: Sequence[str]) -> list[dict]:
    # Aliased: most measures are named after the columns they sum, which an annotation may not shadow.
    figures = {f"m_{name}": MEASURES[name].expression() for name in measures}
    runs = runs.order_by()
    with transaction.atomic(using=runs.db):
        if any(MEASURES[name].how == "median" for name in measures):
            with connections[runs.db].cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = %s", [MEDIAN_SORT_MEMORY])
        if not keys:
            found = runs.aggregate(**figures)
            return [{name: found[f"m_{name}"] for name in measures}]
        grouped = list(runs.values(**{f"k_{key}": KEYS[key] for key in keys}).annotate(**figures))
    return [
        {**{key: row[f"k_{key}"] for key in keys}, **{name: row[f"m_{name}"] for name in measures}} for row in grouped
    ]


def _in_python(runs: QuerySet, keys: Sequence[str], measures: Sequence[str]) -> list[dict]:
    fields = sorted({field for name in measures for field in MEASURES[name].fields})
    values = (
        runs.order_by()
        .annotate(**{f"k_{key}": KEYS[key] for key in keys})
        .values_list(*(f"k_{key}" for key in keys), *fields)
    )
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    if not keys:
        groups[()] = []
    for row in values.iterator():
        groups[row[: len(keys)]].append(row[len(keys) :])
    summaries = []
    for group, rows in groups.items():
        columns = dict(zip(fields, zip(*rows, strict=True), strict=True)) if rows else dict.fromkeys(fields, ())
        figures = {name: MEASURES[name].reduce(columns, len(rows)) for name in measures}
        summaries.append({**dict(zip(keys, group, strict=True)), **figures})
    return summaries
