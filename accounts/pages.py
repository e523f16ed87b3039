"""Server-rendered pages that are also htmx partials: a page's template includes its partial, named as the
page with a leading underscore (teams/detail.html, teams/_detail.html), and a form on the page posts with
hx-post and swaps that partial. Without JavaScript the same forms post and redirect as before."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django_htmx.http import HttpResponseClientRedirect


def render_page(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    """The page, or for an htmx request the partial it is built around."""
    if request.htmx:
        folder, _, name = template.rpartition("/")
        template = f"{folder}/_{name}"
    return render(request, template, context, status=status)


def go_to(request: HttpRequest, to: str, *args, **kwargs) -> HttpResponse:
    """Another page: a redirect, or for an htmx request an instruction to load it whole."""
    response = redirect(to, *args, **kwargs)
    return HttpResponseClientRedirect(response.url) if request.htmx else response
