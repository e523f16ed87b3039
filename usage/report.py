"""A usage report: the rows of one grouping and their total over a period, named for people, and the
day-by-day series its charts draw. The API, the CSV and the pages all show this same report."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model

from canvas.access import display_name
from canvas.models import Team
from providers.models import Model, ProviderAccount
from usage.aggregate import USAGE, Runs
from usage.periods import Period
from usage.summary import summarise

TEAM_GROUPINGS = ("day", "model", "provider", "user")
PERSON_GROUPINGS = ("day", "model", "provider", "team")
GROUPING_NAMES = {"day": "Day", "model": "Model", "provider": "Provider", "user": "Person", "team": "Team"}
COLUMNS = ("key", "label", *USAGE)
CHARTED = ("cost", "input_tokens", "output_tokens", "unpriced")


@dataclass(frozen=True)
class Report:
    period: Period
    by: str
    rows: list[dict]  # each: key, label and the USAGE figures
    total: dict  # the USAGE figures of every run in the period


def build(runs: Runs, period: Period, by: str) -> Report:
    rows = [{**names, **figures} for names, figures in _named(summarise(runs, [by]), by)]
    if by == "day":
        rows.sort(key=lambda row: row["key"])
    else:
        rows.sort(key=lambda row: (-row["cost"], -row["runs"], row["label"]))
    return Report(period, by, rows, summarise(runs)[0])


def _named(groups: list[dict], by: str):
    """Each group's figures with its `key` (stable, for programs) and `label` (for people)."""
    names = _names(by, [group[by] for group in groups])
    for group in groups:
        figures = {name: group[name] for name in USAGE}
        yield names(group[by]), figures


def _names(by: str, ids: list):
    if by == "day":
        return lambda day: {"key": day.isoformat(), "label": day.isoformat()}
    if by == "model":
        labels = model_labels(Model.objects.filter(pk__in=ids).select_related("account"))
        return lambda pk: {"key": str(pk), "label": labels[pk]}
    if by == "provider":
        accounts = dict(ProviderAccount.objects.filter(pk__in=ids).values_list("pk", "name"))
        return lambda pk: {"key": accounts[pk], "label": accounts[pk]}
    if by == "user":
        users = {u.pk: u for u in get_user_model().objects.filter(pk__in=[i for i in ids if i is not None])}
        gone = {"key": "", "label": "(deleted account)"}
        return lambda pk: gone if pk is None else {"key": users[pk].get_username(), "label": display_name(users[pk])}
    teams = dict(Team.objects.filter(pk__in=ids).values_list("pk", "name"))
    return lambda pk: {"key": str(pk), "label": teams[pk]}


def model_labels(models) -> dict:
    """Each model's name as the canvas shows it (its display name), with its provider's name added where
    two of them share one."""
    models = list(models)
    shared = {name for name in (m.display_name for m in models) if [m.display_name for m in models].count(name) > 1}
    return {
        m.pk: f"{m.display_name} ({m.account.name})" if m.display_name in shared else m.display_name for m in models
    }


def money(value: Decimal) -> str:
    """A sum of costs as a node's cost is written: a plain decimal string, trailing zeros dropped."""
    return format(value.normalize(), "f")


def figures_payload(figures: dict) -> dict:
    return {name: money(figures[name]) if name == "cost" else figures[name] for name in USAGE}


def payload(report: Report) -> dict:
    rows = [{"key": row["key"], "label": row["label"], **figures_payload(row)} for row in report.rows]
    return {"rows": rows, "total": figures_payload(report.total)}


def as_csv(report: Report) -> str:
    """The report's rows, a header line first; empty cells where a median has no value."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in payload(report)["rows"]:
        writer.writerow(["" if row[column] is None else row[column] for column in COLUMNS])
    return out.getvalue()


def csv_filename(subject: str, report: Report) -> str:
    return f"prism-usage-{subject}-{report.by}-{report.period.since}-{report.period.until}.csv"


def usage_charts(runs: Runs, period: Period) -> dict:
    """Cost and tokens (input and output) per UTC day, one line per model, every day of the period
    present (zero where nothing ran). Costs stay decimal strings: only the chart makes numbers of them.
    A model whose runs had no price is left off the cost chart (a line at $0 would read as free) and
    named in its `left_out`."""
    index = {day: n for n, day in enumerate(period.days)}
    groups = summarise(runs, ["day", "model"], CHARTED)
    names = _names("model", list({group["model"] for group in groups}))
    lines: dict = {}  # model id → its cost line, its tokens line, its total cost and its runs without a price
    for group in groups:
        label = names(group["model"])["label"]
        line = lines.setdefault(group["model"], [[label, ["0"] * len(index)], [label, [0] * len(index)], Decimal(0), 0])
        n = index[group["day"]]
        line[0][1][n] = money(group["cost"])
        line[1][1][n] = group["input_tokens"] + group["output_tokens"]
        line[2] += group["cost"]
        line[3] += group["unpriced"]
    ordered = sorted(lines.values(), key=lambda line: (-line[2], line[0][0]))
    priced, left_out = [], []
    for line in ordered:
        (priced if line[2] or not line[3] else left_out).append(line)
    return {
        "cost": {
            **chart("Cost per day (US$)", [line[0] for line in priced]),
            "left_out": [line[0][0] for line in left_out],
        },
        "tokens": chart("Tokens per day (input and output)", [line[1] for line in ordered]),
    }


def chart(title: str, lines: list) -> dict:
    """One chart as static/prism/usage-charts.js draws it: lines of (label, one value a day)."""
    return {"title": title, "series": [{"label": label, "values": values} for label, values in lines]}
