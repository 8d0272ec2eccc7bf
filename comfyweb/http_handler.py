"""Django's ASGI handler, with the whole sync request path run in one worker-thread hop.

Every ComfyWeb view is sync (the ORM is), and so is each of Django's middleware methods. In
Django's async path each `process_request`/`process_response` of a MiddlewareMixin middleware
is its own sync_to_async call, so a request crossed between the event loop and a worker
thread about fifteen times (about 5 ms of a 6.5 ms answer here, against 0.9 ms for the same
request under WSGI). This handler builds the sync middleware chain, as WSGI does, and runs it
in one call on the loop's thread pool, as a WSGI server runs requests on its threads.

Django also gives every request a ThreadSensitiveContext, that is a new thread (and with it a
new database connection) per request. Without it, the pool's few threads live on and keep
their connections (CONN_MAX_AGE), and the request signals run on the shared thread that the
relay and the socket consumers use.

`request_started`'s two database receivers (close_old_connections, reset_queries) cost a hop
of their own before every request: they run at the start of the request's one hop instead,
and stay on the signal for WSGI. (Django's test client takes close_old_connections off the
signal while it sends it, and puts it back for every sender after.)
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.core import signals
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections, reset_queries
from django.http import HttpRequest, HttpResponseBase


class OneHopASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await sync_to_async(self._started_then_response, thread_sensitive=True)(request)

    def _started_then_response(self, request: HttpRequest) -> HttpResponseBase:
        for receiver in STARTED_HERE:  # what request_started did for this handler
            receiver()
        return self.get_response(request)


# request_started's receivers that this handler runs in its own hop (see the module's note).
STARTED_HERE = (reset_queries, close_old_connections)


def _started_elsewhere() -> None:
    """Keep STARTED_HERE on request_started for the handlers that still send it to them."""
    from django.core.handlers.wsgi import WSGIHandler

    for receiver in STARTED_HERE:
        if signals.request_started.disconnect(receiver):
            signals.request_started.connect(receiver, sender=WSGIHandler)


def get_asgi_application() -> OneHopASGIHandler:
    """As django.core.asgi.get_asgi_application, with the one-hop handler."""
    import django

    django.setup(set_prefix=False)
    _started_elsewhere()
    return OneHopASGIHandler()


class ComfyUIHandler(OneHopASGIHandler):
    """The ComfyUI-compatible listener (jobs.comfyapi): its own URL conf and no middleware.

    ComfyUI's clients send no session cookie and no CSRF token, and expect ComfyUI's answers
    (its 404, its JSON), not the app's pages, sessions or redirects: none of the app's
    middleware applies. The same process, database and relay serve both listeners.
    """

    urlconf = "jobs.comfyapi.urls"

    def load_middleware(self, is_async: bool = False) -> None:
        from django.core.handlers.exception import convert_exception_to_response

        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        self._middleware_chain = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        request.urlconf = self.urlconf  # type: ignore[attr-defined]
        return super().get_response(request)


def comfyui_asgi_application() -> ComfyUIHandler:
    return ComfyUIHandler()
