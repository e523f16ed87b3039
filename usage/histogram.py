"""Log-spaced buckets for medians that must merge: a value v > 0 falls in bucket floor(log(v) / log(1.01)),
so each bucket spans 1% (its upper end is 1.01 times its lower end), and a bucket stands for its geometric
middle. A median read from merged buckets is therefore within half a bucket, under 0.5% (precisely
sqrt(1.01) - 1 = 0.499%), of the exact median of the same values; a value of 0 has a bucket of its own and
is read back as exactly 0.

PostgreSQL computes every bucket (usage/rollups.py when it rolls months up, usage/summary.py for the days
not rolled up), so a value on a bucket's edge always lands in the same bucket.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from django.db.models import F, Func, SmallIntegerField

GROWTH = 1.01
ZERO = -32768  # values of 0 (or below)
# Buckets are smallints; clamped so no finite value overflows one (1.01 ** 32767 is about 1e141).
LOWEST, HIGHEST = -32767, 32767
MEASURES = {"ttft_ms": 0, "tokens_per_s": 1}  # MonthlyHistogram.measure of each figure
# Half a bucket either way: the most a median read from buckets can differ from the exact one, relatively.
PRECISION = math.sqrt(GROWTH) - 1


def bucket_sql(column: str) -> str:
    """The SQL that buckets `column` (a quoted column or expression), as a smallint."""
    return (
        f"(CASE WHEN {column} > 0 THEN GREATEST({LOWEST}, LEAST({HIGHEST},"
        f" FLOOR(LN({column}::float8) / LN({GROWTH})))) ELSE {ZERO} END)::smallint"
    )


class Bucket(Func):
    """bucket_sql as an ORM expression, for the runs read directly."""

    output_field = SmallIntegerField()

    def __init__(self, field: str):
        super().__init__(F(field))

    def as_sql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        return bucket_sql(column), params


def value_of(bucket: int) -> float:
    """What a bucket stands for: its geometric middle (0 for the bucket of zeros)."""
    return 0.0 if bucket == ZERO else GROWTH ** (bucket + 0.5)


def median(counts: dict[int, int]) -> float | None:
    """The median of the values counted per bucket, as percentile_cont(0.5) takes it: the middle value, or
    the mean of the two middle ones."""
    # A count below one can only be a month's histogram less days written meanwhile: nothing to count.
    counts = {bucket: count for bucket, count in counts.items() if count > 0}
    total = sum(counts.values())
    if not total:
        return None
    low_rank, high_rank = (total - 1) // 2, total // 2
    low = high = None
    seen = 0
    for bucket in sorted(counts):
        seen += counts[bucket]
        if low is None and seen > low_rank:
            low = bucket
        if seen > high_rank:
            high = bucket
            break
    return (value_of(low) + value_of(high)) / 2


def merged(rows: Iterable[tuple[int, int]]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for bucket, count in rows:
        counts[bucket] = counts.get(bucket, 0) + count
    return counts
