from __future__ import annotations

from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    """Leaderboards, cost estimates and vote datasets, read from the votes (canvas.models.Vote)."""

    name = "evaluation"

    def ready(self) -> None:
        from evaluation import signals  # noqa: F401
