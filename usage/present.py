"""Figures as a page shows them: thousands separated, money to four decimals (its exact value kept for a
tooltip), medians rounded, a dash where there is nothing to show."""

from __future__ import annotations

from decimal import Decimal

from usage import budgets
from usage.report import Report, money

DASH = "—"


def count(value: int) -> str:
    return f"{value:,}"


def dollars(value: Decimal | None) -> str:
    if value is None:
        return DASH
    if 0 < value < Decimal("0.0001"):
        return "< $0.0001"
    return f"${value:,.4f}"


def number(value: float | None, places: int = 0) -> str:
    return DASH if value is None else f"{value:,.{places}f}"


def cost_shown(cost: Decimal, unpriced: int) -> tuple[str, str]:
    """A sum of runs' costs as a page writes it, and a note of the runs with no price it leaves out. $0
    where the runs had no price would read as free: that is "no price"."""
    if unpriced and cost == 0:
        return "no price", ""
    return dollars(cost), f"{count(unpriced)} without a price" if unpriced else ""


def figures(row: dict) -> dict:
    shown = {
        name: count(row[name])
        for name in ("runs", "errors", "input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens")
    }
    cost, cost_note = cost_shown(row["cost"], row["unpriced"])
    return shown | {
        "cost": cost,
        "cost_note": cost_note,
        "cost_exact": money(row["cost"]),
        "ttft_ms_p50": number(row["ttft_ms_p50"]),
        "tokens_per_s_p50": number(row["tokens_per_s_p50"], 1),
    }


def table(report: Report) -> dict:
    return {
        "rows": [{"key": row["key"], "label": row["label"], **figures(row)} for row in report.rows],
        "total": figures(report.total),
    }


def standing(of) -> dict:
    """A budgets.Standing for a bar: the figures as text, and the plain numbers a <meter> takes."""
    budget = of.budget
    return {
        "state": of.state,
        "spent": dollars(of.spent) if of.spent < 1 else f"${of.spent:,.2f}",
        "budget": None if budget is None else f"${budget:,.2f}",
        "percent": of.percent,
        "meter": None
        if budget is None
        else {"value": money(of.spent), "max": money(budget), "warn": money(of.warn_at.quantize(Decimal("0.01")))},
    }


def self_hosted(entries) -> list[dict]:
    """economics.SelfHostedModel entries with their figures as text."""
    return [_self_hosted(e) for e in entries]


def _self_hosted(e) -> dict:
    billed, billed_note = cost_shown(e.billed, e.unpriced)
    return {
        "label": e.label,
        "runs": count(e.runs),
        "input_tokens": count(e.input_tokens),
        "cached_input_tokens": count(e.cached_input_tokens),
        "output_tokens": count(e.output_tokens),
        "billed": billed,
        "billed_note": billed_note,
        "hours": count(e.hours),
        "hourly_cost": dollars(e.hourly_cost),
        "by_the_hour": None if e.by_the_hour is None else dollars(e.by_the_hour),
        "throughput": number(e.throughput, 1),
        "throughput_measured": e.throughput_measured,
        "output_per_million": None if e.output_per_million is None else dollars(e.output_per_million),
        "by_the_token": None if e.by_the_token is None else dollars(e.by_the_token),
        "alternatives": [
            {"label": a.label, "cost": dollars(a.cost), "times": None if a.times is None else f"{a.times}×"}
            for a in e.alternatives
        ],
    }


def health(rows) -> list[dict]:
    return [
        {
            "name": h.name,
            "kind": h.kind,
            "runs": count(h.runs),
            "errors": count(h.errors),
            "error_rate": f"{h.error_rate:.1%}",
            "rate_limited": count(h.rate_limited),
            "ttft_ms_p50": number(h.ttft_ms_p50),
        }
        for h in rows
    ]


def team_budgets(mine) -> dict:
    """What the team page shows of budgets: the team's standing and each person's the viewer may see."""
    found = budgets.team_budgets(mine)
    people = [{"member": m, "standing": standing(s)} for m, s in found.people]
    return {"month": found.month, "team": standing(found.team), "people": people}
