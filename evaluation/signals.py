"""What makes a cached leaderboard stale (evaluation/cache.py says how the cache is keyed)."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_init, post_save
from django.dispatch import receiver

from canvas.models import Canvas, Vote
from evaluation.cache import catalogue_changed, votes_changed
from providers.models import Model, Price, ProviderAccount


@receiver([post_save, post_delete], sender=Vote, dispatch_uid="evaluation.vote_changed")
def vote_changed(sender, instance: Vote, **kwargs) -> None:
    votes_changed(canvas_ids=[instance.canvas_id])


@receiver(post_init, sender=Canvas, dispatch_uid="evaluation.canvas_loaded")
def canvas_loaded(sender, instance: Canvas, **kwargs) -> None:
    # What the canvas held when read, to tell after a save whether its votes changed teams or tags.
    # Read from __dict__: a deferred field must not cost a query here.
    instance._evaluation_seen = (instance.__dict__.get("team_id"), instance.__dict__.get("tags"))


@receiver(post_save, sender=Canvas, dispatch_uid="evaluation.canvas_saved")
def canvas_saved(sender, instance: Canvas, created: bool, update_fields=None, **kwargs) -> None:
    if created:
        return
    if update_fields is not None and "deleted_at" in update_fields:  # deleted or restored (canvas.trash)
        votes_changed(team_ids=[instance.team_id])
        return
    if update_fields is not None and not {"team", "tags"} & set(update_fields):
        return
    team_id, tags = getattr(instance, "_evaluation_seen", (None, None))
    if team_id != instance.team_id or tags != instance.tags:
        votes_changed(team_ids=[team_id, instance.team_id])
    instance._evaluation_seen = (instance.team_id, instance.tags)


@receiver(post_delete, sender=Canvas, dispatch_uid="evaluation.canvas_deleted")
def canvas_deleted(sender, instance: Canvas, **kwargs) -> None:
    votes_changed(team_ids=[instance.team_id])


@receiver([post_save, post_delete], sender=ProviderAccount, dispatch_uid="evaluation.account_changed")
@receiver([post_save, post_delete], sender=Model, dispatch_uid="evaluation.model_changed")
@receiver([post_save, post_delete], sender=Price, dispatch_uid="evaluation.price_changed")
def catalogue_row_changed(sender, **kwargs) -> None:
    catalogue_changed()
