"""The self-hosted servers page (/servers/, staff only): one panel per vLLM account, its health and its
figures over the last hours, which refreshes itself (htmx polling of the same URL, answered with the
panels alone). Thin: access through canvas.access, figures from providers.server_series."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from canvas import access
from providers import server_series


def panels_context(hours_asked: str | None) -> dict:
    """What templates/servers/_panels.html needs; another page may include that template with it."""
    hours = server_series.window_hours(hours_asked)
    return {
        "panels": [server_series.panel(account, hours) for account in server_series.watched_accounts()],
        "hours": hours,
        "window_choices": server_series.window_choices(),
        # No point asking more often than the servers are read (nor more than once a second).
        "refresh_s": max(1, round(settings.PRISM_SERVER_SCRAPE_S or 15)),
        "scraping": settings.PRISM_SERVER_SCRAPE_S > 0,
    }


@login_required
@require_GET
def server_list(request):
    access.require_staff(request.user)
    template = "servers/_panels.html" if request.htmx else "servers/list.html"
    return render(request, template, panels_context(request.GET.get("hours")))
