"""What would this have cost: the token counts of a set of answers, priced at every priced model's
current price (cache-aware, through engine.cost, the one cost formula), beside what was spent."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from canvas.models import UNPRICED
from engine.cost import cost_of
from providers.base import Usage
from providers.models import Model

TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
# What a set of answers sums to: how many, what they cost as stored (`actual`, which leaves out those with
# no price: `unpriced`), and their tokens.
ANSWER_SUMS = {
    "answers": Count("pk"),
    "actual": Coalesce(Sum("cost"), Decimal(0)),
    "unpriced": Count("pk", filter=UNPRICED),
    **{name: Coalesce(Sum(name), 0) for name in TOKEN_FIELDS},
}


def decimal_text(value: Decimal | None) -> str | None:
    """A decimal string as a node's cost is written: never rounded, no exponent."""
    return None if value is None else format(value.normalize(), "f")


def totals(answers: QuerySet) -> tuple[Usage, Decimal, int, int]:
    """The summed token counts of these answers (reasoning is inside output), what they cost as stored,
    how many there are and how many of them had no price, in one query."""
    sums = answers.order_by().aggregate(**ANSWER_SUMS)
    usage = Usage(**{name: sums[name] for name in TOKEN_FIELDS})
    return usage, sums["actual"], sums["answers"], sums["unpriced"]


def priced_models() -> QuerySet:
    """The models a user could pick, with their prices, for estimates."""
    return Model.objects.usable().prefetch_related("prices")


def estimates(usage: Usage, models: Iterable[Model]) -> list[dict]:
    """The cost of `usage` at each model's current price, cheapest first; models with no price are left
    out. `models` should have their prices prefetched."""
    now = timezone.now()
    rows = []
    for model in models:
        cost = cost_of(usage, model.current_price(now))
        if cost is not None:
            rows.append({
                "model": str(model.id),
                "display_name": model.display_name,
                "provider_kind": model.account.kind,
                "cost": cost,
                "estimated": True,
            })  # fmt: skip
    rows.sort(key=lambda row: (row["cost"], row["display_name"]))
    return [row | {"cost": decimal_text(row["cost"])} for row in rows]


def what_if(usage: Usage, actual: Decimal, answers: int, unpriced: int, models: Iterable[Model]) -> dict:
    return {
        "actual": decimal_text(actual),
        "answers": answers,
        "unpriced": unpriced,
        "tokens": {name: getattr(usage, name) for name in TOKEN_FIELDS},
        "by_model": estimates(usage, models),
    }


def costs_of(answers: QuerySet) -> dict:
    """`{"actual", "answers", "tokens", "by_model"}` for these answers."""
    return what_if(*totals(answers), priced_models())
