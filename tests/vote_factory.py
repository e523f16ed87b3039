"""Votes made straight through the ORM, for the tests of what reads them (leaderboards, datasets, costs):
models with prices, prompts with finished answers, and votes stored as canvas.models.Vote says (the
pair in canonical order, the outcome flipped to match, models and canvas copied onto the vote)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.utils import timezone

from canvas.models import Canvas, Edge, Node, NodeKind, NodeStatus, Vote
from providers.models import Model, Price, ProviderAccount

FLIPPED = {"a": "b", "b": "a", "tie": "tie", "both_bad": "both_bad"}
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def model(name: str, kind: str = "openai", price: tuple | None = None, display_name: str = "") -> Model:
    """A model of an account of `kind` (one account per kind); `price`: (input, cached_input, output,
    cache_write or None) in dollars per million tokens, in force since 2020."""
    account, _ = ProviderAccount.objects.get_or_create(
        name=f"Test {kind}", defaults={"kind": kind, "base_url": "http://127.0.0.1:9/v1"}
    )
    made = Model.objects.create(account=account, name=name, display_name=display_name or name.title())
    if price is not None:
        input_, cached, output, *write = price
        Price.objects.create(
            model=made, input=Decimal(input_), cached_input=Decimal(cached), output=Decimal(output),
            cache_write=Decimal(write[0]) if write and write[0] is not None else None, effective_from=LONG_AGO,
        )  # fmt: skip
    return made


def prompt(canvas: Canvas, text: str = "Which is better?", parents=(), **fields) -> Node:
    node = Node.objects.create(canvas=canvas, kind=NodeKind.PROMPT, text=text, created_by=canvas.created_by, **fields)
    Edge.objects.bulk_create([Edge(parent=p, child=node, position=i) for i, p in enumerate(parents)])
    return node


def answer(question: Node, model: Model, text: str = "", **metrics) -> Node:
    """A finished answer to `question`; `metrics`: any Node field (ttft_ms, cost, input_tokens, …)."""
    fields = {"status": NodeStatus.DONE, "finish_reason": "stop"} | metrics
    node = Node.objects.create(
        canvas=question.canvas, kind=NodeKind.RESPONSE, model=model, text=text or f"{model.name} says hello",
        created_by=question.created_by, billed_team=question.canvas.team, **fields,
    )  # fmt: skip
    Edge.objects.create(parent=question, child=node)
    return node


def vote(first: Node, second: Node, outcome: str, user=None, judge: Model | None = None, when=None, **fields) -> Vote:
    """`outcome` as seen from (first, second); stored in canonical order (a's id < b's id as strings)."""
    if str(first.id) > str(second.id):
        first, second, outcome = second, first, FLIPPED[outcome]
    prompt_id = first.parent_edges.get().parent_id
    return Vote.objects.create(
        canvas=first.canvas, prompt_id=prompt_id, a=first, b=second, model_a=first.model, model_b=second.model,
        outcome=outcome, user=user, judge_model=judge, created_at=when or timezone.now(), **fields,
    )  # fmt: skip


def duel(canvas: Canvas, first: Model, second: Model, outcome: str, user=None, judge=None, when=None, **metrics):
    """One prompt, one answer by each model, one vote: (prompt, answer of first, answer of second, vote)."""
    question = prompt(canvas)
    a, b = answer(question, first, **metrics), answer(question, second, **metrics)
    return question, a, b, vote(a, b, outcome, user=user, judge=judge, when=when)
