"""How errors leave the app: under /api/ every error is JSON, whatever raised it (unknown paths, wrong
methods, oversized bodies); on pages, an ApiError raised by an access helper is a 404 or 403 page."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpResponseForbidden, JsonResponse

from canvas.errors import ApiError, error_body

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    500: "server_error",
}
_MESSAGES = {
    404: "No such endpoint.",
    405: "This method is not allowed here.",
    413: "The request body is too large.",
    500: "Something went wrong on our side.",
}


class ApiErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        if _declared_length(request) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return _json_error(413)
        response = self.get_response(request)
        content_type = response.get("Content-Type", "")
        if response.status_code >= 400 and not content_type.startswith("application/json"):
            return _json_error(response.status_code, response)
        return response

    def process_exception(self, request, exception):
        if not request.path.startswith("/api/"):
            return None
        if isinstance(exception, RequestDataTooBig):
            return _json_error(413)
        # Django turns these into 4xx responses itself; __call__ then makes them JSON.
        if isinstance(exception, Http404 | PermissionDenied | BadRequest | SuspiciousOperation):
            return None
        log.exception("Unhandled API error on %s %s", request.method, request.path)
        return _json_error(500)


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


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _json_error(status: int, original=None) -> JsonResponse:
    message = _MESSAGES.get(status, "The request failed.")
    response = JsonResponse(error_body(_CODES.get(status, "error"), message), status=status)
    if original is not None and original.has_header("Allow"):
        response["Allow"] = original["Allow"]
    return response
