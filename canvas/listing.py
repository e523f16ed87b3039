"""What the canvas list page shows: each canvas with its team, last change, size and cost; the deleted ones
that can still be restored; a few recent ones for the canvas page's switcher; and the starting canvas an
empty list offers."""

from __future__ import annotations

from django.db.models import Count, F, Q, Sum

from canvas import access, services
from canvas.errors import invalid
from canvas.models import Canvas, NodeKind
from canvas.schemas import MAX_TAG, MAX_TAGS
from providers.text import clean_text
from usage.present import dollars

SHOWN = 200  # canvases listed at most; search finds the others
RECENT = 8  # canvases the switcher offers

STARTER_TITLE = "Getting started"
STARTER_NOTE = """**Welcome to Prism.** A canvas is where you ask several models the same question and compare
their answers side by side.

1. Write a question in the box on the left and tick the models to ask.
2. Press **Run**: each answer streams into its own card, with its time to first token, speed and cost.
3. Select an answer and ask again to follow up; select several to merge their context.
4. Select two answers of one question to vote on which is better; the team's leaderboard ranks the models.

Double-click this note to edit it, or select it and press Delete to remove it. Press **?** for every shortcut."""


def _with_figures(canvases):
    return canvases.select_related("team").annotate(
        viewer_role=F("team__memberships__role"),
        node_count=Count("nodes"),
        total_cost=Sum("nodes__cost", filter=Q(nodes__kind=NodeKind.RESPONSE)),
    )


def _shown(canvases) -> list[Canvas]:
    for canvas in canvases:
        canvas.cost_shown = dollars(canvas.total_cost)
        canvas.can_write = access.can_write(canvas.viewer_role)
    return canvases


def summaries(user) -> list[Canvas]:
    """The canvases the user sees, newest change first, each with `node_count`, `total_cost` (the sum of
    its answers' costs, None when none has a price; `cost_shown` as the page writes it) and `can_write`."""
    return _shown(list(_with_figures(access.visible_canvases(user)).order_by("-updated_at")[:SHOWN]))


def summary(user, canvas_id) -> Canvas:
    """One row of the list, as summaries() gives it (404 when the user may not see the canvas)."""
    canvas = access.canvas_for(user, canvas_id)
    return _shown([_with_figures(access.visible_canvases(user).filter(pk=canvas.pk)).get()])[0]


def deleted(user) -> list[Canvas]:
    return list(access.deleted_canvases(user).select_related("team").order_by("-deleted_at")[:SHOWN])


def recent(user, exclude: Canvas | None = None) -> list[Canvas]:
    canvases = access.visible_canvases(user).order_by("-updated_at")
    if exclude is not None:
        canvases = canvases.exclude(pk=exclude.pk)
    return list(canvases.only("id", "title")[:RECENT])


def parse_settings(form) -> dict:
    """A title and comma-separated tags from the list page's form, bounded as the API bounds them."""
    changes = {}
    if "title" in form:
        changes["title"] = clean_text(form.get("title", ""))[:200]
    if "tags" in form:
        tags = [tag.strip() for tag in clean_text(form.get("tags", "")).split(",")]
        tags = [tag for tag in tags if tag]
        if len(tags) > MAX_TAGS or any(len(tag) > MAX_TAG for tag in tags):
            raise invalid(f"At most {MAX_TAGS} tags, each at most {MAX_TAG} characters.")
        changes["tags"] = tags
    return changes


def create_starter(team, user) -> Canvas:
    """The sample canvas: one note that says what to do."""
    canvas = Canvas.objects.create(team=team, title=STARTER_TITLE, created_by=user)
    note = services.create_note(canvas, user, STARTER_NOTE, [], x=0, y=0)
    services.update_node(note, {"w": 480.0, "h": 360.0})
    return canvas
