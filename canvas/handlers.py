"""Page-side rendering of ApiError raised by the access helpers (404/403 pages)."""

from __future__ import annotations

from django.http import Http404, HttpResponseForbidden

from canvas.errors import ApiError


class PageErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, ApiError) and not request.path.startswith("/api/"):
            if exception.status == 404:
                raise Http404(exception.message)
            return HttpResponseForbidden(exception.message)
        return None
