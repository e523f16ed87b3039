from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


class Team(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    personal = models.BooleanField(default=False)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="teams")
    monthly_budget_usd = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Most the team may spend on model calls in a calendar month (UTC); empty for no limit.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    # The id pages and the API use for a member: opaque, unlike the integer primary key.
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.EDITOR)
    monthly_budget_usd = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Most this person may spend in this team in a calendar month (UTC); empty for no limit of "
        "their own (the team's budget still applies).",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class CanvasManager(models.Manager):
    """Canvases people work on: a judge's workspace (see Canvas.judged_canvas) is left out of every
    query that goes through `Canvas.objects` or a related manager (a team's canvases), so no list,
    page, count or access check ever finds it. The judge's own code reads it through `Canvas.workspaces`."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(judged_canvas__isnull=True)


# How long a deleted canvas can be restored before it is purged for good (canvas.trash).
RESTORE_DAYS = 30


class Canvas(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="canvases")
    title = models.CharField(max_length=200)
    system_prompt = models.TextField(blank=True)
    # The default for new prompts: their answers are labelled A, B, … until a person has voted.
    blind = models.BooleanField(default=False)
    # Short labels (strings) a team files its canvases under; the leaderboard can be narrowed to one.
    tags = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # Set only on a judge's workspace: the hidden canvas that holds a judge model's runs (one prompt and
    # one response per ordered pair of answers) for the canvas it judges. Its runs go through the engine
    # like any other, and their events go to its own group, which nobody can join.
    judged_canvas = models.OneToOneField(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="judge_workspace"
    )

    # Set when someone deletes the canvas: it is gone from every list, page and API answer but can be
    # restored for RESTORE_DAYS, until canvas.trash purges it for good.
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)

    workspaces = models.Manager()  # every canvas, judges' workspaces included: for canvas.judge only
    objects = CanvasManager()

    class Meta:
        ordering = ["-updated_at"]
        verbose_name_plural = "canvases"
        # Not the first declared: queries, related managers and the admin leave the workspaces out.
        default_manager_name = "objects"

    def __str__(self) -> str:
        return self.title


class NodeKind(models.TextChoices):
    PROMPT = "prompt", "Prompt"
    RESPONSE = "response", "Response"
    NOTE = "note", "Note"


class NodeStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    STREAMING = "streaming", "Streaming"
    DONE = "done", "Done"
    ERROR = "error", "Error"
    CANCELLED = "cancelled", "Cancelled"
    INTERRUPTED = "interrupted", "Interrupted"


RUNNING_STATUSES = (NodeStatus.QUEUED, NodeStatus.STREAMING)
# Answers that used tokens and have no cost: no price was in force for their model, so a sum of costs
# leaves them out. One that used none (failed or cancelled before any) costs nothing at any price.
UNPRICED = models.Q(cost__isnull=True) & (models.Q(input_tokens__gt=0) | models.Q(output_tokens__gt=0))


def unpriced(cost, input_tokens: int | None, output_tokens: int | None) -> bool:
    """UNPRICED, for an answer's values in hand."""
    return cost is None and ((input_tokens or 0) > 0 or (output_tokens or 0) > 0)


# What usage reports read of a response besides its team and time (usage.aggregate).
USAGE_FIGURES = [
    "model",
    "created_by",
    "status",
    "error_code",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost",
    "ttft_ms",
    "tokens_per_s",
]


class Node(models.Model):
    """A prompt, a note, or one model's response on a canvas. Edges point from parents to children."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Null only for a billed answer whose node or canvas was deleted for good (canvas.trash): kept, its text
    # gone, so usage and budgets keep counting what it cost.
    canvas = models.ForeignKey(Canvas, on_delete=models.CASCADE, related_name="nodes", null=True, blank=True)
    kind = models.CharField(max_length=8, choices=NodeKind.choices)
    parents = models.ManyToManyField("self", through="Edge", symmetrical=False, related_name="children", blank=True)
    x = models.FloatField(default=0)
    y = models.FloatField(default=0)
    w = models.FloatField(default=320)
    h = models.FloatField(default=200)
    text = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    # Prompt nodes only: a blind prompt hides which model gave each answer from a person until that
    # person has voted on it, or from no one once its author has revealed it.
    blind = models.BooleanField(default=False)
    revealed_at = models.DateTimeField(null=True, blank=True)

    # Response nodes only.
    # "A", "B", … for an answer to a blind prompt, in an order drawn once per prompt; blank otherwise.
    label = models.CharField(max_length=2, blank=True)
    # The team that owned the canvas when the run was created: spend and usage count against it even if
    # the canvas later moves. Null for imported answers, whose costs never count.
    billed_team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    model = models.ForeignKey("providers.Model", on_delete=models.PROTECT, null=True, blank=True)
    # The generation settings asked for this answer (temperature, max_tokens, reasoning_effort), in
    # Prism's own spelling; each adapter turns them into its protocol's fields when the run starts.
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=NodeStatus.choices, blank=True)
    finish_reason = models.CharField(max_length=16, blank=True)
    reasoning = models.TextField(blank=True)
    seq = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=24, blank=True)
    error_message = models.TextField(blank=True)
    queue_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_s = models.FloatField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    cached_input_tokens = models.PositiveIntegerField(null=True, blank=True)
    cache_write_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    reasoning_tokens = models.PositiveIntegerField(null=True, blank=True)
    usage_estimated = models.BooleanField(default=False)
    cost = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["status"], name="node_status_idx"),
            # Every prompt counts its author's running responses (the per-user limit): this index holds
            # only those, so the count stays small however many answers a user has kept.
            models.Index(
                fields=["created_by"],
                condition=models.Q(kind=NodeKind.RESPONSE, status__in=RUNNING_STATUSES),
                name="node_running_by_user_idx",
            ),
            # Usage reports and budgets read one team's runs over a stretch of time, and provider health
            # every team's (usage.aggregate). Each index carries the figures they sum, so PostgreSQL answers
            # from the index alone (an index-only scan) instead of reading the wide rows, texts and all.
            models.Index(
                fields=["billed_team", "created_at"],
                include=USAGE_FIGURES,
                condition=models.Q(kind=NodeKind.RESPONSE),
                name="node_billed_usage_idx",
            ),
            models.Index(
                fields=["created_at"],
                include=["model", "status", "error_code", "ttft_ms"],
                condition=models.Q(kind=NodeKind.RESPONSE, billed_team__isnull=False),
                name="node_provider_health_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"


class Edge(models.Model):
    parent = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="child_edges")
    child = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="parent_edges")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["parent", "child"], name="edge_unique")]

    def __str__(self) -> str:
        return f"{self.parent_id} → {self.child_id}"


def _new_secret() -> tuple[str, str]:
    """A fresh unguessable token and its digest: only the digest is stored, the token is shown once."""
    from accounts.models import digest_token

    raw = secrets.token_urlsafe(32)
    return raw, digest_token(raw)


class InviteQuerySet(models.QuerySet):
    def usable(self) -> InviteQuerySet:
        now = timezone.now()
        # An invitation whose maker is gone (deleted or deactivated) invites no one.
        return self.filter(revoked_at__isnull=True, accepted_at__isnull=True, created_by__is_active=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class Invite(models.Model):
    """An invitation into a team with a role the inviter chose. Used once; only its digest is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invites")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.VIEWER)
    digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)

    objects = InviteQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invite to {self.team} as {self.role}"

    @classmethod
    def issue(cls, team: Team, role: str, created_by, expires_at=None) -> tuple[Invite, str]:
        raw, digest = _new_secret()
        invite = cls.objects.create(team=team, role=role, digest=digest, created_by=created_by, expires_at=expires_at)
        return invite, raw


class ShareLinkQuerySet(models.QuerySet):
    def active(self) -> ShareLinkQuerySet:
        now = timezone.now()
        # A link whose maker is gone (deleted or deactivated) opens nothing.
        return self.filter(revoked_at__isnull=True, created_by__is_active=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ShareLink(models.Model):
    """Read-only access to one canvas for whoever holds the token. Only its digest is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    canvas = models.ForeignKey(Canvas, on_delete=models.CASCADE, related_name="share_links")
    name = models.CharField(max_length=100, blank=True)
    digest = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12, help_text="The first characters, to tell links apart.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ShareLinkQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.hint}… → {self.canvas}"

    @classmethod
    def issue(cls, canvas: Canvas, created_by, name: str = "", expires_at=None) -> tuple[ShareLink, str]:
        raw, digest = _new_secret()
        link = cls.objects.create(
            canvas=canvas, name=name, digest=digest, hint=raw[:6], created_by=created_by, expires_at=expires_at
        )
        return link, raw

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())


class Comment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"Comment on {self.node_id}"


class VoteOutcome(models.TextChoices):
    A = "a", "A is better"
    B = "b", "B is better"
    TIE = "tie", "Tie"
    BOTH_BAD = "both_bad", "Both are bad"


class Vote(models.Model):
    """One judgement of two finished answers to the same prompt, by a person or by a judge model.

    A pair is stored in one order, `a_id < b_id` (as strings), with the outcome flipped to match, so
    that a person voting on (B, A) replaces their vote on (A, B) instead of adding a second one.
    `model_a`, `model_b` and `canvas` are copied from the answers when the vote is made (an answer's
    model and canvas never change), so the leaderboard reads votes without joining their nodes.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    canvas = models.ForeignKey(Canvas, on_delete=models.CASCADE, related_name="votes")
    prompt = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="votes")
    a = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="+")
    b = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="+")
    model_a = models.ForeignKey("providers.Model", on_delete=models.PROTECT, related_name="+")
    model_b = models.ForeignKey("providers.Model", on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=8, choices=VoteOutcome.choices)
    # Exactly one of the two: a person's vote, or a judge model's (with its short rationale).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="votes"
    )
    judge_model = models.ForeignKey(
        "providers.Model", on_delete=models.PROTECT, null=True, blank=True, related_name="judge_votes"
    )
    rationale = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "a", "b", "user"], condition=models.Q(user__isnull=False), name="vote_one_per_person"
            ),
            models.UniqueConstraint(
                fields=["prompt", "a", "b", "judge_model"],
                condition=models.Q(judge_model__isnull=False),
                name="vote_one_per_judge",
            ),
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, judge_model__isnull=True)
                | models.Q(user__isnull=True, judge_model__isnull=False),
                name="vote_person_or_judge",
            ),
            models.CheckConstraint(condition=~models.Q(a=models.F("b")), name="vote_two_answers"),
        ]
        indexes = [models.Index(fields=["canvas", "created_at"], name="vote_canvas_time_idx")]

    def __str__(self) -> str:
        return f"{self.a_id} vs {self.b_id}: {self.outcome}"


class Judgement(models.Model):
    """A judge model asked to compare each pair of a prompt's finished answers, in both orders.

    Each ordered pair is one JudgeRun: a hidden prompt on the canvas's judge workspace and the judge's
    response below it. When both orders of a pair have ended, their verdicts make one Vote with
    `judge_model` (canvas.judge). A prompt has at most one judgement per judge model: asking again
    replaces it and its votes.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    prompt = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="judgements")
    judge_model = models.ForeignKey("providers.Model", on_delete=models.PROTECT, related_name="+")
    rubric = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "judge_model"], name="judgement_one_per_judge"),
        ]

    def __str__(self) -> str:
        return f"Judgement of {self.prompt_id} by {self.judge_model_id}"


class JudgeRun(models.Model):
    """One ordered pair put to the judge: `first` shown first, `second` second; `response` is the
    judge's answer (a response node on the judge workspace), whose text ends with its verdict."""

    judgement = models.ForeignKey(Judgement, on_delete=models.CASCADE, related_name="runs")
    first = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="+")
    second = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="+")
    response = models.OneToOneField(Node, on_delete=models.CASCADE, related_name="judge_run")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["judgement", "first", "second"], name="judge_run_one_per_order"),
        ]

    def __str__(self) -> str:
        return f"{self.first_id} then {self.second_id}"


class Preset(models.Model):
    """A saved set of models with their settings, a person's own or shared with a team."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presets")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, null=True, blank=True, related_name="presets")
    # [{"model": id, "temperature"?, "max_tokens"?, "reasoning_effort"?}, ...], as a prompt takes them.
    entries = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "created_at"]

    def __str__(self) -> str:
        return self.name
