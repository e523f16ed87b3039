"""The API docs page (/api/docs): Swagger UI from static/vendor/, started by static/prism/api-docs.js, so the
page works offline and under the Content-Security-Policy (django-ninja's default loads it from a CDN)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from ninja.openapi.docs import DocsBase


class VendoredSwagger(DocsBase):
    def render_page(self, request: HttpRequest, api, **kwargs: Any) -> HttpResponse:
        context = {"api": api, "openapi_url": self.get_openapi_url(api, kwargs)}
        return render(request, "api_docs.html", context)
