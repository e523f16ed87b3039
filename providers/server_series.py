"""What the stored samples of a vLLM server say: its state now, its figures over the last hours (for the
server panel's charts), and which servers are down (for the models list, so the composer can say so).

Rates come from counter differences between two samples: tokens per second, and the prefix-cache hit
rate as hits over queries in between (vLLM's counters count tokens). A counter lower than before means
the server restarted and counted from zero, so what it shows is all it counted since.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from providers.models import ProviderAccount, ProviderKind, ServerSample

# The charts get at most this many points: over a longer window, one sample (the last) per time bucket.
MAX_POINTS = 360
# The windows a panel offers, in hours (those within the retention limit, and the limit itself).
WINDOWS_H = (1, 6, 24)
DEFAULT_WINDOW_H = 6
# A sample says nothing of the server now once this many scrape intervals have passed without another.
STALE_AFTER_INTERVALS = 3
STALE_AFTER_MIN_S = 60.0

# The panel's figures: key, label, decimals shown.
FIGURE_LABELS = (
    ("running", "Running", 0),
    ("waiting", "Waiting", 0),
    ("kv", "KV-cache use (%)", 1),
    ("hit", "Prefix-cache hit rate (%)", 1),
    ("gen", "Generation (tokens/s)", 1),
    ("prompt", "Prompt (tokens/s)", 1),
)


class Reading(NamedTuple):
    """A stored sample as the panel reads it: a plain tuple, as a day of samples is thousands of them."""

    at: datetime
    healthy: bool
    running: float | None
    waiting: float | None
    kv_cache_use: float | None
    prefix_cache_queries: float | None
    prefix_cache_hits: float | None
    generation_tokens: float | None
    prompt_tokens: float | None
    error: str


def counter_delta(before: float | None, after: float | None) -> float | None:
    """How much a counter grew between two samples; after a restart (lower than before), its new value."""
    if before is None or after is None:
        return None
    return after - before if after >= before else after


def rate(before: Reading, after: Reading, name: str) -> float | None:
    """A counter's growth per second between two samples."""
    seconds = (after.at - before.at).total_seconds()
    grown = counter_delta(getattr(before, name), getattr(after, name))
    return None if grown is None or seconds <= 0 else grown / seconds


def hit_rate(before: Reading, after: Reading) -> float | None:
    """The share of prefix-cache queries (tokens) that hit, between two samples; None with no queries."""
    queries = counter_delta(before.prefix_cache_queries, after.prefix_cache_queries)
    hits = counter_delta(before.prefix_cache_hits, after.prefix_cache_hits)
    if not queries or hits is None:
        return None
    return min(1.0, hits / queries)


def stale_after() -> timedelta:
    return timedelta(seconds=max(STALE_AFTER_MIN_S, STALE_AFTER_INTERVALS * settings.PRISM_SERVER_SCRAPE_S))


def window_choices() -> list[int]:
    limit = settings.PRISM_SERVER_SAMPLES_HOURS
    return sorted({hours for hours in WINDOWS_H if hours < limit} | {limit})


def window_hours(asked: str | None) -> int:
    """The window a request asks for, if the panel offers it; else the default."""
    choices = window_choices()
    try:
        hours = int(asked or "")
    except ValueError:
        hours = 0
    return hours if hours in choices else min(DEFAULT_WINDOW_H, choices[-1])


@dataclass
class ServerPanel:
    account: ProviderAccount
    hours: int
    state: str  # "up", "down", "stale" (no recent sample) or "unknown" (none at all)
    latest: Reading | None
    figures: dict = field(default_factory=dict)  # the latest figures: running, waiting, kv, hit, gen, prompt
    series: dict = field(default_factory=dict)  # for the charts: "t" (Unix seconds) and one list per figure

    @property
    def reason(self) -> str:
        return self.latest.error if self.latest else ""

    @property
    def element_id(self) -> str:
        return f"server-{self.account.id}"

    @property
    def series_json(self) -> str:
        return json.dumps(self.series, separators=(",", ":"))

    @property
    def shown(self) -> list[dict]:
        """The latest figures as the panel writes them: a dash for one not known."""
        return [
            {
                "key": key,
                "label": label,
                "text": "—" if self.figures.get(key) is None else f"{self.figures[key]:,.{digits}f}",
            }
            for key, label, digits in FIGURE_LABELS
        ]


def watched_accounts() -> list[ProviderAccount]:
    return list(ProviderAccount.objects.filter(kind=ProviderKind.VLLM).order_by("-enabled", "name"))


def panel(account: ProviderAccount, hours: int, now: datetime | None = None) -> ServerPanel:
    now = now or timezone.now()
    start = now - timedelta(hours=hours)
    stored = ServerSample.objects.filter(account=account, at__lte=now)
    samples = _readings(stored.filter(at__gte=start).order_by("at"))
    # With nothing in the window, the last sample before it still says when the server was last read.
    latest = samples[-1] if samples else next(iter(_readings(stored.order_by("-at")[:1])), None)
    return ServerPanel(
        account=account,
        hours=hours,
        state=_state(latest, now),
        latest=latest,
        figures=_latest_figures(samples),
        series=chart_series(samples, start, now),
    )


def _readings(samples: QuerySet) -> list[Reading]:
    return [Reading._make(row) for row in samples.values_list(*Reading._fields)]


def _state(latest: Reading | None, now: datetime) -> str:
    if latest is None:
        return "unknown"
    if now - latest.at > stale_after():
        return "stale"
    return "up" if latest.healthy else "down"


def _latest_figures(samples: list[Reading]) -> dict:
    """The gauges of the last sample, the rates between the last two (when both have figures)."""
    if not samples or not samples[-1].healthy:
        return {}
    last = samples[-1]
    figures = {"running": last.running, "waiting": last.waiting, "kv": _percent(last.kv_cache_use)}
    if len(samples) > 1:
        before = samples[-2]
        figures |= {
            "hit": _percent(hit_rate(before, last)),
            "gen": rate(before, last, "generation_tokens"),
            "prompt": rate(before, last, "prompt_tokens"),
        }
    return figures


def chart_series(samples: Iterable[Reading], start: datetime, end: datetime) -> dict:
    """At most MAX_POINTS points from start to end: the last sample of each time bucket, with the rates
    since the bucket before (exact averages over the bucket, whatever was dropped in it). A bucket in
    which the server was down at any sample is a gap: every figure null."""
    bucket_s = max(1.0, (end - start).total_seconds() / MAX_POINTS)
    picked: dict[int, tuple[Reading, bool]] = {}
    for sample in samples:
        key = min(MAX_POINTS - 1, math.floor((sample.at - start).total_seconds() / bucket_s))
        _, down = picked.get(key, (None, False))
        picked[key] = (sample, down or not sample.healthy)
    series: dict[str, list] = {name: [] for name in ("t", "running", "waiting", "kv", "hit", "gen", "prompt")}
    before: Reading | None = None
    for sample, down in picked.values():
        series["t"].append(round(sample.at.timestamp(), 3))
        usable = not down and before is not None
        series["running"].append(None if down else sample.running)
        series["waiting"].append(None if down else sample.waiting)
        series["kv"].append(None if down else _percent(sample.kv_cache_use))
        series["hit"].append(_percent(hit_rate(before, sample)) if usable else None)
        series["gen"].append(_round(rate(before, sample, "generation_tokens")) if usable else None)
        series["prompt"].append(_round(rate(before, sample, "prompt_tokens")) if usable else None)
        before = None if down else sample
    return series


def _percent(share: float | None) -> float | None:
    return None if share is None else round(100 * share, 2)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def down_accounts(account_ids: Iterable) -> dict:
    """account id → why, for each of these vLLM accounts whose latest sample, still fresh, says it is
    down. A server with no recent sample (not scraped, or the scraper stopped) is not called down."""
    ids = set(account_ids)
    if not ids:
        return {}
    now = timezone.now()
    recent = (
        ServerSample.objects.filter(account_id__in=ids, at__gte=now - stale_after())
        .order_by("account_id", "-at")
        .values_list("account_id", "at", "healthy", "error")
    )
    latest: dict = {}
    for account_id, at, healthy, error in recent:
        latest.setdefault(account_id, (at, healthy, error))
    return {
        account_id: f"The server failed its check at {at:%H:%M:%S} UTC: {error or 'not healthy'}."
        for account_id, (at, healthy, error) in latest.items()
        if not healthy
    }
