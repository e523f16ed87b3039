"""Provider health, for staff: per provider account and UTC day, how many runs failed, how many were
throttled (429, error code `rate_limited`) and the median time to first token. It spans every team's
runs, since a provider fails or throttles everyone alike."""

from __future__ import annotations

from dataclasses import dataclass

from providers.models import ProviderAccount
from usage.aggregate import runs_in
from usage.periods import Period
from usage.report import chart
from usage.summary import summarise

HEALTH = ("runs", "errors", "rate_limited", "ttft_ms_p50")


@dataclass(frozen=True)
class ProviderHealth:
    name: str
    kind: str
    runs: int
    errors: int
    rate_limited: int
    ttft_ms_p50: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.runs if self.runs else 0.0


def provider_health(period: Period) -> tuple[list[ProviderHealth], dict]:
    """Each account's figures over the period (highest error rate first), and their day-by-day charts."""
    runs = runs_in(period)
    totals = summarise(runs, ["provider"], HEALTH)
    accounts = {a.pk: a for a in ProviderAccount.objects.filter(pk__in=[t["provider"] for t in totals])}
    health = sorted(
        (
            ProviderHealth(
                accounts[t["provider"]].name,
                accounts[t["provider"]].get_kind_display(),
                *(t[name] for name in HEALTH),
            )
            for t in totals
        ),
        key=lambda h: (-h.error_rate, -h.rate_limited, h.name),
    )
    return health, _charts(summarise(runs, ["provider", "day"], HEALTH), accounts, period)


def _charts(groups: list[dict], accounts: dict, period: Period) -> dict:
    index = {day: n for n, day in enumerate(period.days)}
    lines: dict = {}  # account id → its three lines
    for group in groups:
        name = accounts[group["provider"]].name
        rate, throttled, ttft = lines.setdefault(
            group["provider"], tuple([name, [None] * len(index)] for _ in range(3))
        )
        n = index[group["day"]]
        rate[1][n] = round(group["errors"] / group["runs"], 4)
        throttled[1][n] = group["rate_limited"]
        ttft[1][n] = group["ttft_ms_p50"]
    ordered = sorted(lines.values(), key=lambda line: line[0][0])
    return {
        "error_rate": chart("Share of runs that failed", [line[0] for line in ordered]),
        "rate_limited": chart("Runs refused with 429 (rate limited)", [line[1] for line in ordered]),
        "provider_ttft": chart("Median time to first token (ms)", [line[2] for line in ordered]),
    }
