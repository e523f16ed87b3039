"""Which votes a leaderboard, a cost estimate or a dataset counts: a team's, narrowed by judge, by
period and by canvas tag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection
from django.db.models import Q, QuerySet

from canvas.models import Canvas, Node, NodeKind, Team, Vote
from providers.text import clean_text

JUDGES = ("human", "model", "all")


@dataclass(frozen=True)
class Scope:
    """`since` and `until` are UTC days, both included; `tag` one canvas tag, or none."""

    judge: str = "human"
    since: date | None = None
    until: date | None = None
    tag: str = ""

    @classmethod
    def parse(cls, judge: str | None = None, since: str | None = None, until: str | None = None, tag=None) -> Scope:
        """From query parameters; ValueError with a message a person can act on."""
        judge = judge or "human"
        if judge not in JUDGES:
            raise ValueError(f"judge: one of {', '.join(JUDGES)}.")
        # Cleaned as stored tags are (a NUL, which no tag holds, made PostgreSQL refuse the JSON filter).
        return cls(judge, _day("since", since), _day("until", until), clean_text(tag or "").strip()[:100])

    @property
    def key(self) -> str:
        """A short text naming this scope, for cache keys."""
        return f"{self.judge}|{self.since or ''}|{self.until or ''}|{self.tag}"

    def votes(self, team: Team, judge: str | None = None) -> QuerySet:
        """The team's votes in this scope; `judge` overrides the scope's own (the agreement figure
        compares people and judges over the same period and tag)."""
        # A deleted canvas's votes leave the board at once (and come back if it is restored), not when
        # the canvas is purged a month later.
        votes = Vote.objects.filter(canvas__team=team, canvas__deleted_at__isnull=True)
        judge = judge or self.judge
        if judge == "human":
            votes = votes.filter(user__isnull=False)
        elif judge == "model":
            votes = votes.filter(judge_model__isnull=False)
        votes = votes.filter(self.period("created_at"))
        if self.tag:
            votes = votes.filter(canvas__in=tagged(team.canvases.all(), self.tag))
        return votes

    def answers(self, team: Team) -> QuerySet:
        """The team's responses in this scope (by when they were asked), for cost estimates."""
        # A judge's runs live on hidden workspace canvases of the team: they are no answers to estimate.
        answers = Node.objects.filter(canvas__team=team, canvas__judged_canvas__isnull=True, kind=NodeKind.RESPONSE)
        answers = answers.filter(self.period("created_at"))
        if self.tag:
            answers = answers.filter(canvas__in=tagged(team.canvases.all(), self.tag))
        return answers

    def period(self, field: str) -> Q:
        q = Q()
        if self.since:
            q &= Q(**{f"{field}__gte": datetime.combine(self.since, time.min, tzinfo=UTC)})
        if self.until:
            q &= Q(**{f"{field}__lt": datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=UTC)})
        return q


def _day(name: str, value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}: a day as YYYY-MM-DD.") from None


def tagged(canvases: QuerySet, tag: str) -> QuerySet:
    """The canvases carrying `tag`. PostgreSQL answers it from the JSON column itself; SQLite (the
    embedded mode, where a team's canvases are few) has no JSON containment, so it is read here."""
    if connection.vendor == "postgresql":
        return canvases.filter(tags__contains=[tag])
    ids = [pk for pk, tags in canvases.values_list("pk", "tags") if isinstance(tags, list) and tag in tags]
    return Canvas.objects.filter(pk__in=ids)


def team_tags(team: Team) -> list[str]:
    """Every tag on the team's canvases, sorted, for the leaderboard's filter."""
    found: set[str] = set()
    for tags in team.canvases.values_list("tags", flat=True):
        if isinstance(tags, list):
            found.update(t for t in tags if isinstance(t, str))
    return sorted(found)


def unseen_prompts(user) -> QuerySet:
    """Blind prompts whose models `user` may not know yet: not revealed, and not voted on by them."""
    voted = Vote.objects.filter(user=user).values("prompt")
    return Node.objects.filter(kind=NodeKind.PROMPT, blind=True, revealed_at__isnull=True).exclude(pk__in=voted)


def seen_votes(votes: QuerySet, user) -> QuerySet:
    """The votes that reveal nothing `user` may not know (a vote names its models)."""
    return votes.exclude(prompt__in=unseen_prompts(user))


def seen_answers(answers: QuerySet, user) -> QuerySet:
    """The answers whose model and cost `user` may know."""
    return answers.exclude(parent_edges__parent__in=unseen_prompts(user))
