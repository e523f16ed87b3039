"""Runs with known figures, for the usage and budget tests: each answer is a response node created at a
given moment, billed to a given team, with the tokens, cost and speeds the engine would have stored."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.test import Client

from canvas.models import Canvas, Membership, Node, NodeKind, NodeStatus, Role, Team
from providers.models import Model, Price, ProviderAccount


def at(day: str, hour: int = 12, minute: int = 0) -> datetime:
    """A moment on a UTC day written YYYY-MM-DD."""
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def team_of(name: str, **roles) -> Team:
    """A team with people in roles: team_of("Lab", owner=alice, editor=dave)."""
    team = Team.objects.create(name=name)
    for role, user in roles.items():
        Membership.objects.create(team=team, user=user, role=Role(role.rstrip("0123456789")))
    return team


def model_of(account: str, name: str, kind: str = "openai", **account_fields) -> Model:
    provider, _ = ProviderAccount.objects.get_or_create(name=account, defaults={"kind": kind, **account_fields})
    return Model.objects.create(account=provider, name=name, display_name=name.title())


def price(model: Model, since: str, input: str, cached: str, output: str) -> Price:
    return Price.objects.create(
        model=model,
        input=Decimal(input),
        cached_input=Decimal(cached),
        output=Decimal(output),
        effective_from=at(since, 0),
    )


def canvas_of(team: Team, user) -> Canvas:
    return Canvas.objects.create(team=team, title=f"{team.name}'s canvas", created_by=user)


def run(canvas: Canvas, model: Model, user, when: datetime, billed_to: Team | None = "canvas", **figures) -> Node:
    """A finished answer (unless `status` says otherwise) with the figures given; billed to the canvas's
    team unless `billed_to` names another (a canvas moved since) or None (an imported answer)."""
    team = canvas.team if billed_to == "canvas" else billed_to
    fields = {"status": NodeStatus.DONE} | figures
    return Node.objects.create(
        canvas=canvas, kind=NodeKind.RESPONSE, model=model, created_by=user, created_at=when, billed_team=team, **fields
    )
