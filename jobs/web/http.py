"""JSON errors for everything under /api/, whoever produced the error (SPEC §4).

django-ninja answers the errors of its own routes in JSON (jobs.web.api), but some answers
never reach it: Django's 404 for an unknown /api/ path, ninja's plain-text 405, the 400 of
a body Django refuses to read, a 500 from a middleware. `ApiErrorMiddleware` turns every
such answer into `{"error": {"code", "message"}}`, and `not_found` / `server_error` (the
handler404 / handler500 of comfyweb.urls) do the same when Django renders the error page
itself. Pages outside /api/ keep Django's HTML error pages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

log = logging.getLogger("jobs.web.http")

API_PREFIX = "/api/"

# The code for an error status when no more precise code is known.
STATUS_CODES = {
    400: "bad_request",
    401: "no_session",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    429: "rate_limited",
    500: "internal",
}
MESSAGES = {
    400: "The request could not be read.",
    403: "Forbidden.",
    404: "Not found.",
    405: "This method is not allowed here.",
    413: "The request body is too large.",
    500: "Something went wrong on our side; it has been logged.",
}


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def json_error(status: int, code: str | None = None, message: str | None = None) -> JsonResponse:
    body = {
        "code": code or STATUS_CODES.get(status, f"http_{status}"),
        "message": message or MESSAGES.get(status, "The request failed."),
    }
    return JsonResponse({"error": body}, status=status)


def max_body_bytes() -> int:
    """The largest body any /api/ route accepts: an upload at its limit plus the multipart frame."""
    return settings.COMFYWEB_MAX_UPLOAD_BYTES + 1024 * 1024


class ApiErrorMiddleware:
    """Outermost middleware: no /api/ answer with an error status is ever HTML or a traceback."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api(request):
            return self.get_response(request)
        # Refuse an oversized body by its declared length, before anything reads or spools it.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error(400, "bad_request", "Content-Length is not a number.")
        if length > max_body_bytes():
            return json_error(413, "request_too_large", f"The request body is over {max_body_bytes()} bytes.")
        return as_json(self.get_response(request))

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api(request):
            return None
        log.exception("unhandled error in %s %s", request.method, request.path)
        return json_error(500)


def as_json(response: HttpResponse) -> HttpResponse:
    """An error answer in the JSON shape of SPEC §4; other answers unchanged."""
    if response.status_code < 400 or response.get("Content-Type", "").startswith("application/json"):
        return response
    replacement = json_error(response.status_code, message=_plain_message(response))
    if response.has_header("Allow"):
        replacement["Allow"] = response["Allow"]
    return replacement


def _plain_message(response: HttpResponse) -> str | None:
    """A short plain-text body (ninja's "Method not allowed") is kept; HTML never is."""
    if response.streaming or not response.get("Content-Type", "").startswith("text/plain"):
        return None
    text = response.content.decode("utf-8", "replace").strip()
    return text if text and len(text) <= 200 and "\n" not in text else None


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: JSON under /api/, Django's page elsewhere."""
    if is_api(request):
        return json_error(404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: JSON under /api/ (no traceback, whatever DEBUG says), Django's page elsewhere."""
    if is_api(request):
        return json_error(500)
    return defaults.server_error(request)
