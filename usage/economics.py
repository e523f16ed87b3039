"""Open-weight economics on a team's own usage: what the self-hosted models' tokens of a period cost, and
what the very same tokens would have cost on each priced API model.

A self-hosted model is costed two ways:
- by the hour: the GPU's hourly price times the hours it served the team (each UTC clock hour in which
  at least one of the team's runs on it started) — what renting the GPU for just those hours costs;
- by the token: its tokens at the price per million that the GPU's hourly price and its throughput
  give (providers.pricing), with the throughput the server sustains as set on its account, or, where
  none is set, the median speed the team's own runs measured (one stream: a dearer, upper bound).
The API models' costs use engine.cost's formula (cached tokens at the cached price) at their current
prices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from engine.cost import cost_of
from providers.base import Usage
from providers.models import Model, ProviderKind
from providers.pricing import derived_price
from usage.aggregate import Runs
from usage.summary import served_hours, summarise

SELF_HOSTED = Q(account__kind=ProviderKind.VLLM) | Q(account__gpu_hourly_cost__isnull=False)
NOT_COMPARED = (ProviderKind.VLLM, ProviderKind.SIMULATOR)
TOKENS = ("runs", "input_tokens", "cached_input_tokens", "output_tokens", "cost", "unpriced", "tokens_per_s_p50")


@dataclass(frozen=True)
class Alternative:
    label: str
    cost: Decimal
    times: Decimal | None  # this cost over the self-hosted model's cost by the hour (or by the token)


@dataclass(frozen=True)
class SelfHostedModel:
    label: str
    runs: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    billed: Decimal  # what its runs were billed at the time (their stored costs)
    unpriced: int  # its runs with tokens but no price then, which `billed` leaves out
    hours: int
    hourly_cost: Decimal | None
    by_the_hour: Decimal | None
    throughput: float | None  # output tokens a second
    throughput_measured: bool  # True: the runs' median speed, the account sets none
    output_per_million: Decimal | None
    by_the_token: Decimal | None
    alternatives: list[Alternative] = field(default_factory=list)


def self_hosted(runs: Runs) -> list[SelfHostedModel]:
    """One entry per self-hosted model the runs used, most output first."""
    self_hosted_ids = set(Model.objects.filter(SELF_HOSTED).values_list("pk", flat=True))
    if not self_hosted_ids:
        return []
    runs = runs.of_models(self_hosted_ids)
    groups = summarise(runs, ["model"], TOKENS)
    if not groups:
        return []
    hours = served_hours(runs)
    models = Model.objects.filter(pk__in=[g["model"] for g in groups]).select_related("account")
    models = {m.pk: m for m in models}
    compared = priced_api_models()
    entries = [_costed(models[g["model"]], g, hours[g["model"]], compared) for g in groups]
    return sorted(entries, key=lambda entry: (-entry.output_tokens, entry.label))


def priced_api_models() -> list[tuple[str, object]]:
    """(label, price in force now) of every enabled hosted model with a price."""
    now = timezone.now()
    found = []
    for model in Model.objects.usable().exclude(account__kind__in=NOT_COMPARED).prefetch_related("prices"):
        price = next((p for p in model.prices.all() if p.effective_from <= now), None)
        if price is not None and model.account.gpu_hourly_cost is None:
            found.append((f"{model.display_name} ({model.account.name})", price))
    return found


def _costed(model: Model, group: dict, hours: int, compared) -> SelfHostedModel:
    account = model.account
    hourly = account.gpu_hourly_cost
    throughput = account.gpu_tokens_per_s or group["tokens_per_s_p50"]
    price = derived_price(hourly, throughput) if hourly is not None and throughput else None
    usage = Usage(
        input_tokens=group["input_tokens"],
        cached_input_tokens=group["cached_input_tokens"],
        output_tokens=group["output_tokens"],
    )
    by_the_hour = None if hourly is None else hourly * hours
    by_the_token = cost_of(usage, price)
    return SelfHostedModel(
        label=f"{model.display_name} ({account.name})",
        runs=group["runs"],
        input_tokens=usage.input_tokens,
        cached_input_tokens=usage.cached_input_tokens,
        output_tokens=usage.output_tokens,
        billed=group["cost"],
        unpriced=group["unpriced"],
        hours=hours,
        hourly_cost=hourly,
        by_the_hour=by_the_hour,
        throughput=throughput,
        throughput_measured=not account.gpu_tokens_per_s,
        output_per_million=None if price is None else price.output,
        by_the_token=by_the_token,
        alternatives=_alternatives(usage, compared, by_the_hour or by_the_token),
    )


def _alternatives(usage: Usage, compared, reference: Decimal | None) -> list[Alternative]:
    alternatives = []
    for label, price in compared:
        cost = cost_of(usage, price)
        times = (cost / reference).quantize(Decimal("0.1")) if reference else None
        alternatives.append(Alternative(label, cost, times))
    return sorted(alternatives, key=lambda a: (a.cost, a.label))
