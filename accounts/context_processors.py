from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def signup(request: HttpRequest) -> dict[str, bool]:
    """Whether pages offer "Create an account" (PRISM_SIGNUP)."""
    return {"signup_open": settings.PRISM_SIGNUP}
