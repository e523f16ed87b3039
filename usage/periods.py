"""The stretch of days a usage report covers: whole UTC days, both ends included."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from canvas.errors import invalid
from engine.limits import month_start

DEFAULT_DAYS = 30
# Ten years of days: enough for any real question, few enough that a day-by-day chart stays bounded.
MAX_DAYS = 3660


@dataclass(frozen=True)
class Period:
    since: date
    until: date  # included

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the period (exclusive bound)."""
        return datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=UTC)

    @property
    def days(self) -> list[date]:
        return [self.since + timedelta(days=n) for n in range((self.until - self.since).days + 1)]

    @property
    def axis(self) -> list[int]:
        """Each day's midnight (UTC) in Unix seconds: the x axis of the charts."""
        return [int(datetime.combine(day, time.min, tzinfo=UTC).timestamp()) for day in self.days]


def today(now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(UTC).date()


def this_month(now: datetime | None = None) -> Period:
    first = month_start(now).date()
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return Period(first, following - timedelta(days=1))


def parse_period(since: str | None, until: str | None, now: datetime | None = None) -> Period:
    """`since` and `until` as YYYY-MM-DD (either may be missing: the last DEFAULT_DAYS days up to today).
    A malformed date, an end before the start or a span past MAX_DAYS is a 400."""
    end = _date("until", until) or today(now)
    start = _date("since", since) or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise invalid("since must not be after until.")
    if (end - start).days + 1 > MAX_DAYS:
        raise invalid(f"A period may cover at most {MAX_DAYS} days.")
    return Period(start, end)


def _date(name: str, value: str | None) -> date | None:
    if value is None or value == "":
        return None
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise invalid(f"{name} must be a date written YYYY-MM-DD.") from None
