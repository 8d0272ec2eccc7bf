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
and stay on the signal for WSGI (Django's test client takes close_old_connections off the
signal while it sends it, and puts it back for every sender after). A response whose body is
in memory is closed there too (request_finished), not in one more hop after it is sent;
`handle` is Django 5.2's with that one change, and a streamed response still closes after
sending, as in Django. What the view publishes goes out on the loop once the hop returned,
before the answer (jobs.core.events.after_hop), not by a trip from the worker to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from asgiref.sync import sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.db import close_old_connections, reset_queries
from django.http import HttpRequest, HttpResponseBase
from django.urls import set_script_prefix

from jobs.core import events


class OneHopASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        hop = sync_to_async(self._started_then_response, thread_sensitive=True)
        return await events.after_hop(lambda: hop(request))

    def _started_then_response(self, request: HttpRequest) -> HttpResponseBase:
        for receiver in STARTED_HERE:  # what request_started did for this handler
            receiver()
        response = self.get_response(request)
        if not response.streaming:
            # Its body is in memory: closed here, in this hop (its closers, request_finished),
            # not in a hop of its own once sent (handle). A streamed one closes after sending.
            response._handler_class = type(self)  # type: ignore[attr-defined]  # as run_get_response sets it
            response.close()
        return response

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Django 5.2's ASGIHandler.handle, but for a response closed in its hop: that one is
        not closed again in a worker-thread hop after it is sent."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        await signals.request_started.asend(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None  # create_request gives one or the other
            body_file.close()
            await self.send_response(error_response, send)
            await sync_to_async(error_response.close)()
            return

        async def process_request(request: HttpRequest, send: Any) -> HttpResponseBase:
            response = await self.run_get_response(request)
            with contextlib.suppress(asyncio.CancelledError):  # the client left while sending
                await self.send_response(response, send)
            return response

        # The disconnect listener first: it raises nothing unexpected that would keep the
        # request's task from being cancelled.
        listener = asyncio.create_task(self.listen_for_disconnect(receive))
        processing = asyncio.create_task(process_request(request, send))
        tasks = [listener, processing]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass  # the client left
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()  # views may handle their cancellation
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            response = processing.result()
        except asyncio.CancelledError:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            if not getattr(response, "closed", False):
                await sync_to_async(response.close)()
        body_file.close()


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
