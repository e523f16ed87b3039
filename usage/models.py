"""Daily roll-ups of the usage figures (PostgreSQL only; see usage/rollups.py for how they are built and
how they stay exact). Each table holds figures of CLOSED days only, and a day's rows count only while its
`RolledUp` mark exists: any write to one of that day's runs deletes the mark in the writer's own
transaction (a database trigger), and the day is read from the runs themselves again until rebuilt.

Ids are plain columns, not foreign keys: a row outlives nothing it names for long (a deleted team's or
person's runs change, which unmarks their days) and must never hold up a delete."""

from __future__ import annotations

from django.db import models


class RolledUp(models.Model):
    """The days first_day..last_day (both included) are rolled up and valid: one day for the daily tables,
    a whole calendar month for MonthlyHistogram."""

    first_day = models.DateField()
    last_day = models.DateField()
    built_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["first_day", "last_day"], name="usage_rolledup_span")]

    def __str__(self) -> str:
        return f"usage rolled up {self.first_day}..{self.last_day}"


class DailyUsage(models.Model):
    """The sums of one UTC day's runs per (billed team, model, person): exactly what usage.aggregate sums."""

    day = models.DateField()
    team_id = models.UUIDField()
    model_id = models.UUIDField(null=True)
    user_id = models.IntegerField(null=True)
    runs = models.BigIntegerField()
    errors = models.BigIntegerField()
    rate_limited = models.BigIntegerField()
    input_tokens = models.BigIntegerField()
    cached_input_tokens = models.BigIntegerField()
    output_tokens = models.BigIntegerField()
    reasoning_tokens = models.BigIntegerField()
    cost = models.DecimalField(max_digits=30, decimal_places=10)
    unpriced = models.BigIntegerField()
    # The UTC hours of the day in which at least one of these runs was created, one bit each (bit n: hour n).
    hours = models.IntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["team_id", "day"], name="usage_daily_team_idx"),
            models.Index(fields=["user_id", "day"], name="usage_daily_user_idx"),
            models.Index(fields=["day"], name="usage_daily_day_idx"),
        ]

    def __str__(self) -> str:
        return f"usage of {self.day}"


class DayMedian(models.Model):
    """The exact medians of one UTC day's runs of one team, one person (in every team) or one provider
    account (every team's): what a day-by-day report shows for that day."""

    day = models.DateField()
    team_id = models.UUIDField(null=True)
    user_id = models.IntegerField(null=True)
    account_id = models.UUIDField(null=True)
    ttft_ms_p50 = models.FloatField(null=True)
    tokens_per_s_p50 = models.FloatField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["team_id", "day"], name="usage_median_team_idx"),
            models.Index(fields=["user_id", "day"], name="usage_median_user_idx"),
            models.Index(fields=["account_id", "day"], name="usage_median_account_idx"),
        ]

    def __str__(self) -> str:
        return f"medians of {self.day}"


class MonthlyHistogram(models.Model):
    """How many of a calendar month's runs per (team, model, and person where `by_user`) had a time to first
    token (measure 0) or a speed (measure 1) in each log-spaced bucket (usage.histogram): the medians of
    periods too long to sort every value, merged from whole months."""

    month = models.DateField()  # its first day
    team_id = models.UUIDField()
    model_id = models.UUIDField(null=True)
    by_user = models.BooleanField()  # False: every person's runs together (user_id is then null)
    user_id = models.IntegerField(null=True)
    measure = models.SmallIntegerField()
    bucket = models.SmallIntegerField()
    count = models.BigIntegerField()

    class Meta:
        indexes = [
            models.Index(
                fields=["team_id", "by_user", "month"],
                include=["model_id", "user_id", "measure", "bucket", "count"],
                name="usage_hist_team_idx",
            ),
            models.Index(
                fields=["user_id", "month"],
                include=["team_id", "model_id", "measure", "bucket", "count"],
                condition=models.Q(by_user=True),
                name="usage_hist_user_idx",
            ),
            models.Index(
                fields=["by_user", "month"],
                include=["model_id", "measure", "bucket", "count"],
                name="usage_hist_month_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"histogram of {self.month:%Y-%m}"
