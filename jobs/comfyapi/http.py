"""Answers as ComfyUI's aiohttp server gives them: JSON bodies, empty bodies, its 404.

A hostile or malformed body gets a ComfyUI-shaped 400, never a 500 (ComfyUI itself answers
a non-JSON /prompt with a plain 500: PROTOCOL.md §7.7; clients handle a 400 better).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

from jobs.comfyapi.identity import Caller, caller_of

JSON = "application/json; charset=utf-8"
MAX_BODY = 16 * 1024 * 1024  # a /prompt body: a graph with its extra_pnginfo


def ok(data: Any, status: int = 200) -> HttpResponse:
    return JsonResponse(data, status=status, safe=False, content_type=JSON)


def empty(status: int = 200) -> HttpResponse:
    return HttpResponse(b"", status=status, content_type="text/plain; charset=utf-8")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """aiohttp's own 404: `404: Not Found` in plain text."""
    return HttpResponse(b"404: Not Found", status=404, content_type="text/plain; charset=utf-8")


def server_error(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"500 Internal Server Error", status=500, content_type="text/plain; charset=utf-8")


def prompt_error(kind: str, message: str, status: int = 400, details: str = "") -> HttpResponse:
    body = {
        "error": {"type": kind, "message": message, "details": details, "extra_info": {}},
        "node_errors": {},
    }
    return ok(body, status)


class BadBody(Exception):
    pass


def json_body(request: HttpRequest) -> Any:
    """The request's JSON, None for an empty body; BadBody when it is not JSON."""
    raw = request.body
    if len(raw) > MAX_BODY:
        raise BadBody("The body is too large.")
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise BadBody("The body is not JSON.") from None


View = Callable[..., HttpResponseBase]


def comfy_view(methods: tuple[str, ...]) -> Callable[[Callable[..., HttpResponseBase]], View]:
    """A route of the endpoint: its methods (others 405, as aiohttp), its caller resolved once."""

    def wrap(view: Callable[..., HttpResponseBase]) -> View:
        @wraps(view)
        def handler(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in methods:
                response = HttpResponse(
                    b"405: Method Not Allowed", status=405, content_type="text/plain; charset=utf-8"
                )
                response["Allow"] = ",".join(methods)
                return response
            caller: Caller | None = caller_of(request)
            if caller is None:
                return prompt_error(
                    "unauthorized",
                    "This ComfyUI endpoint needs a valid token: Authorization: Bearer <token>, "
                    "HTTP Basic with the token as the password, or a /t/<token>/ prefix.",
                    401,
                )
            try:
                return view(request, caller, *args, **kwargs)
            except BadBody as error:
                return prompt_error("invalid_prompt", str(error))

        handler.csrf_exempt = True  # type: ignore[attr-defined]
        return handler

    return wrap
