"""A team's leaderboard: Bradley–Terry ratings of the models its votes compare, each beside its median
cost, time to first token and speed on the very answers those votes judged, how often a judge model
agrees with people, and what those answers would have cost at each model's price.

Bounded work whatever the number of votes: the votes are counted per (model a, model b, outcome) in
SQL, the answers' figures are aggregated per model in SQL, and the result is cached (evaluation/cache.py).
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from decimal import Decimal
from statistics import median_low

from django.db import connection
from django.db.models import Aggregate, CharField, Count, Exists, F, OuterRef, QuerySet
from django.db.models.functions import Cast, Concat

from canvas.models import Node, Team, Vote, VoteOutcome
from evaluation import cache
from evaluation.costs import ANSWER_SUMS, TOKEN_FIELDS, decimal_text, priced_models, what_if
from evaluation.ratings import PairCounts, bradley_terry
from evaluation.scope import Scope
from providers.base import Usage
from providers.models import Model, ProviderKind

METHOD = "bradley-terry"
_DRAWS = (VoteOutcome.TIE, VoteOutcome.BOTH_BAD)
_MEDIANS = {"cost": "cost_p50", "ttft_ms": "ttft_p50", "tokens_per_s": "tps_p50"}


class MedianLow(Aggregate):
    """PostgreSQL's percentile_disc(0.5): the lower middle value, an actual one (a cost stays exact)."""

    function = "PERCENTILE_DISC"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"


def leaderboard(team: Team, scope: Scope) -> dict:
    return cache.cached(team.id, scope.key, lambda: compute(team, scope))


def compute(team: Team, scope: Scope) -> dict:
    # Two answers of the same model say nothing about models: such votes are left out.
    votes = scope.votes(team).exclude(model_a=F("model_b"))
    rows = list(votes.order_by().values_list("model_a", "model_b", "outcome").annotate(n=Count("pk")))
    tally = _tally(rows)
    ratings = bradley_terry(PairCounts.from_rows(_pair_rows(rows)))
    figures = answer_figures(voted_answers(votes))
    listed = [str(m) for m in ratings.models]
    models = {str(m.pk): m for m in Model.objects.filter(pk__in=listed).select_related("account")}
    entries = []
    for index, model_id in enumerate(listed):
        model, counts, figure = models[model_id], tally[model_id], figures.get(model_id, {})
        entries.append({
            "model": model_id,
            "display_name": model.display_name,
            "provider_kind": model.account.kind,
            "self_hosted": model.account.kind == ProviderKind.VLLM,
            "rating": round(float(ratings.rating[index]), 2),
            "ci": [round(float(ratings.low[index]), 2), round(float(ratings.high[index]), 2)],
            **counts,
            "win_rate": round((counts["wins"] + counts["ties"] / 2) / counts["votes"], 4),
            "cost_per_answer_p50": decimal_text(figure.get("cost_p50")),
            "ttft_ms_p50": figure.get("ttft_p50"),
            "tokens_per_s_p50": None if figure.get("tps_p50") is None else round(figure["tps_p50"], 1),
        })  # fmt: skip
    entries.sort(key=lambda e: (-e["rating"], e["display_name"]))
    usage = Usage(**{name: sum(f[name] for f in figures.values()) for name in TOKEN_FIELDS})
    actual = sum((f["actual"] for f in figures.values()), Decimal(0))
    answers = sum(f["answers"] for f in figures.values())
    unpriced = sum(f["unpriced"] for f in figures.values())
    return {
        "method": METHOD,
        "votes": sum(n for *_, n in rows),
        "models": entries,
        "agreement": agreement(team, scope),
        "costs": what_if(usage, actual, answers, unpriced, priced_models()),
    }


def _tally(rows: list[tuple]) -> dict[str, dict]:
    """Votes, wins, losses and ties (both bad included) per model, from (a, b, outcome, n) rows."""
    tally: dict[str, Counter] = defaultdict(Counter)
    for model_a, model_b, outcome, n in rows:
        a, b = tally[str(model_a)], tally[str(model_b)]
        a["votes"] += n
        b["votes"] += n
        if outcome == VoteOutcome.A:
            a["wins"] += n
            b["losses"] += n
        elif outcome == VoteOutcome.B:
            b["wins"] += n
            a["losses"] += n
        else:
            a["ties"] += n
            b["ties"] += n
    return {m: {k: c[k] for k in ("votes", "wins", "losses", "ties")} for m, c in tally.items()}


def _pair_rows(rows: list[tuple]):
    for model_a, model_b, outcome, n in rows:
        a_wins = n if outcome == VoteOutcome.A else 0
        b_wins = n if outcome == VoteOutcome.B else 0
        yield str(model_a), str(model_b), a_wins, b_wins, n if outcome in _DRAWS else 0


def voted_answers(votes: QuerySet) -> QuerySet:
    """The answers these votes name, each once: the union of both sides' ids, which PostgreSQL joins to
    the answers (hashing them, or sorting when they outgrow work_mem). Not `pk IN (a's) OR pk IN (b's)`:
    that form needs both id sets hashed in memory, and once they outgrow it PostgreSQL reads the votes
    again for every answer (the bench's 100,000 votes with work_mem at 1 MB: over 30 s, against 1.2 s)."""
    votes = votes.order_by()
    return Node.objects.filter(pk__in=votes.values("a").union(votes.values("b")))


def answer_figures(answers: QuerySet) -> dict[str, dict]:
    """Per model: how many answers (and how many without a price), their summed tokens and stored cost,
    and the median (lower middle) cost, time to first token and tokens per second, in one query on
    PostgreSQL."""
    grouped = answers.order_by().values("model").annotate(**ANSWER_SUMS)
    if connection.vendor == "postgresql":
        grouped = grouped.annotate(**{alias: MedianLow(field) for field, alias in _MEDIANS.items()})
        return {str(row.pop("model")): row for row in grouped}
    # SQLite (the embedded mode) has no percentile function: the values are read and ranked here.
    figures = {str(row.pop("model")): row for row in grouped}
    values: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for model_id, *row in answers.order_by().values_list("model", *_MEDIANS):
        for field, value in zip(_MEDIANS, row, strict=True):
            if value is not None:
                values[str(model_id)][field].append(value)
    for model_id, figure in figures.items():
        for field, alias in _MEDIANS.items():
            found = values[model_id][field]
            figure[alias] = median_low(found) if found else None
    return figures


def _side(outcome: str) -> str:
    return "draw" if outcome in _DRAWS else outcome


def agreement(team: Team, scope: Scope) -> dict:
    """How often a judge model's vote on a pair of answers matches what most people said of that pair,
    over the pairs judged by both (in the scope's period and tags) where people have a strict majority.
    Ties and "both bad" count as one answer, "neither won"."""
    same_pair = {"prompt": OuterRef("prompt"), "a": OuterRef("a"), "b": OuterRef("b")}
    by_judge = Vote.objects.filter(judge_model__isnull=False, **same_pair)
    by_people = Vote.objects.filter(user__isnull=False, **same_pair)
    # The pair (three fixed-length ids end to end) and the judge come as text: thousands of rows keyed
    # by strings rather than UUID objects, whose hashing and formatting are pure Python (a third of this
    # function's time at 100,000 votes).
    rows = (
        scope.votes(team, judge="all")
        .filter(Exists(by_judge), Exists(by_people))
        .order_by()
        .values_list(Concat("prompt", "a", "b", output_field=CharField()), Cast("judge_model", CharField()), "outcome")
        .annotate(n=Count("pk"))
    )
    people: dict[str, Counter] = defaultdict(Counter)
    judges: dict[str, list] = defaultdict(list)
    for pair, judge_model, outcome, n in rows:
        if judge_model is None:
            people[pair][_side(outcome)] += n
        else:
            judges[pair].append((judge_model, _side(outcome)))
    per_judge: dict = defaultdict(Counter)
    for pair, said in people.items():
        (top, top_n), *rest = said.most_common(2) + [(None, 0)]
        if rest[0][1] == top_n:
            continue  # people are split: no majority to agree with
        for judge_model, side in judges[pair]:
            per_judge[judge_model]["pairs"] += 1
            per_judge[judge_model]["agreeing"] += side == top
    # Each judge's id as the API writes it (SQLite's text form of a UUID has no dashes).
    per_judge = {str(uuid.UUID(judge_model)): counts for judge_model, counts in per_judge.items()}
    names = {
        str(pk): name for pk, name in Model.objects.filter(pk__in=list(per_judge)).values_list("pk", "display_name")
    }
    pairs = sum(c["pairs"] for c in per_judge.values())
    agreeing = sum(c["agreeing"] for c in per_judge.values())
    return {
        "pairs": pairs,
        "agreeing": agreeing,
        "rate": round(agreeing / pairs, 4) if pairs else None,
        "by_judge": [
            {"model": m, "display_name": names.get(m, ""), "pairs": c["pairs"],
             "agreeing": c["agreeing"], "rate": round(c["agreeing"] / c["pairs"], 4)}
            for m, c in sorted(per_judge.items())
        ],
    }  # fmt: skip
