"""The three requests every job makes (upload, submit, download), served without Django's
request stack when they are plain (issue Y).

Through Django an upload cost 2.3 ms of CPU against 0.6 ms for its service call, and a
submission 2.3 ms against 0.8 ms (in process, without Daphne): the whole middleware chain, the
lazy session and user machinery, ninja's authentication, parsing and response validation.
Here a request that a person's browser makes in the usual way (their anonymous session,
same-origin, the CSRF token in its header, a well-formed body) runs the same service call in
one hop, with Django's own checks where they decide something: the host, CSRF
(CsrfViewMiddleware), and the locale, frame and security headers (their middleware's response
methods); 1.8 ms each. Anything else goes to Django, body and all, and gets Django's answer:
a token or a signed-in person, accounts mode, a cross-site request or one without its CSRF
token, a body the schema refuses, an error from the service (it changed nothing, so Django
repeats it and answers it in its shape), a range request, a thumbnail. Answers are the same
bytes and headers either way (tests/web/test_hot.py).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from importlib import import_module
from io import BytesIO
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIHandler, ASGIRequest, get_script_prefix
from django.db import close_old_connections, reset_queries
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.locale import LocaleMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import set_script_prefix
from django.utils.cache import patch_vary_headers
from pydantic import ValidationError

from jobs.core import errors, events, handoff, service, sql, storage
from jobs.core.uploads import accept_upload
from jobs.web import access, ranges
from jobs.web.http import json_error

log = logging.getLogger("jobs.web.hot")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
# A hot request's answer from its request and owner; None: Django answers it.
Route = Callable[[HttpRequest, str], "HttpResponse | None"]

OUTPUT_PREFIX = "/files/outputs/"
# A body held in memory here at the most; Django spools a larger one (a video) to disk.
BODY_LIMIT = 4 * 1024 * 1024


def _unused(request: HttpRequest) -> HttpResponse:  # the middleware's get_response: never called
    raise AssertionError("the hot path runs middleware methods only")


def eligible() -> bool:
    """The settings under which this path answers as Django would (else all goes to Django)."""
    return (
        not access.accounts_mode()
        and settings.SESSION_ENGINE == "jobs.web.sessions"
        and not settings.CSRF_USE_SESSIONS
        and not settings.USE_X_FORWARDED_HOST
        and not settings.PREPEND_WWW
        and not getattr(settings, "DISALLOWED_USER_AGENTS", None)
        and "jobs.web.access.AccessMiddleware" in settings.MIDDLEWARE
    )


class HotRoutes:
    """ASGI: the hot requests here when plain, everything else to `django`."""

    def __init__(self, django: ASGIHandler) -> None:
        self.django = django
        # Django's own, for their checks and headers (they read their settings when made).
        self.csrf = CsrfViewMiddleware(_unused)
        self.security = SecurityMiddleware(_unused)
        self.locale = LocaleMiddleware(_unused)
        self.frames = XFrameOptionsMiddleware(_unused)
        self.sessions = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._route(scope) if scope["type"] == "http" and eligible() else None
        if route is None:
            await self.django(scope, receive, send)
            return
        body, state = await _read_body(receive, BODY_LIMIT)
        if state == GONE:
            return  # the client left before it finished asking: no answer, as in Django
        answer = None
        with handoff.answer_first() as after_answer:
            if state == COMPLETE:
                set_script_prefix(get_script_prefix(scope))
                request = self._request(scope, body)
                if request is not None:
                    hop = sync_to_async(self._in_hop, thread_sensitive=True)
                    answer = await events.after_hop(lambda: hop(route, request))
            if answer is None:
                await self.django(scope, _replay(body, state == COMPLETE, receive), send)
            else:
                await self.django.send_response(answer, send)
        for call in after_answer:  # the answer is out (a failed send leaves nothing to guess for)
            call()

    def _route(self, scope: Scope) -> Route | None:
        method, path = scope["method"], scope["path"]
        for name, value in scope["headers"]:
            if name == b"authorization":
                return None  # a token: jobs.web.access decides
            if name == b"content-length" and (not value.isdigit() or int(value) > BODY_LIMIT):
                return None
        if method == "POST" and path == "/api/jobs/":
            return _submit
        if method == "POST" and path == "/api/uploads/":
            return _upload
        if method == "GET" and path.startswith(OUTPUT_PREFIX) and not scope.get("query_string"):
            return _output
        return None

    def _request(self, scope: Scope, body: bytes) -> HttpRequest | None:
        """The request, checked as Django's middleware checks it before a view; None when
        one of them would answer instead (Django then does)."""
        request = ASGIRequest(scope, BytesIO(body))
        try:
            request.get_host()
        except DisallowedHost:
            return None
        if self.security.process_request(request) is not None:  # an HTTPS redirect
            return None
        if request.method == "POST":
            try:
                if request.content_type != "multipart/form-data":
                    request.body  # noqa: B018  # read now: over Django's limit, Django's 413
                self.csrf.process_request(request)
                # It reads the form, and an upload's file with it (request.FILES).
                if self.csrf.process_view(request, _unused, (), {}) is not None:
                    return None  # refused: Django answers the 403
            except Exception:  # a malformed or oversized body: Django says what is wrong
                return None
        request.session = self.sessions(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
        return request

    def _in_hop(self, route: Route, request: HttpRequest) -> HttpResponse | None:
        reset_queries()  # what request_started and request_finished do for Django's requests
        close_old_connections()
        try:
            response = self._answer(route, request)
            return None if response is None else self._finished(request, response)
        finally:
            close_old_connections()

    def _answer(self, route: Route, request: HttpRequest) -> HttpResponse | None:
        try:
            owner = _anonymous_owner(request)
            if owner is None:
                return None
            self.locale.process_request(request)  # the language, for the view and the headers
            return route(request, owner)
        except errors.ServiceError:
            return None  # nothing changed: Django repeats it and answers in its shape
        except Exception:  # a bug: answered as jobs.web.api answers one
            log.exception("unhandled error in %s %s", request.method, request.path)
            return json_error(500)

    def _finished(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """The answer as Django's middleware leaves it, in their order from the view outwards
        (settings.MIDDLEWARE): X-Frame-Options, the CSRF cookie if it must change, the length
        (CommonMiddleware), the language, Vary: Cookie (SessionMiddleware, which read it), the
        security headers."""
        response = self.frames.process_response(request, response)
        response = cast(HttpResponse, self.csrf.process_response(request, response))
        response.headers.setdefault("Content-Length", str(len(response.content)))
        response = cast(HttpResponse, self.locale.process_response(request, response))
        patch_vary_headers(response, ("Cookie",))
        return self.security.process_response(request, response)


def _anonymous_owner(request: HttpRequest) -> str | None:
    """The session's owner key, for an anonymous session that already names itself its owner
    (jobs.web.access.owner_of); a person's session or a new one: None (Django)."""
    session = request.session
    data = session.load()
    key = session.session_key
    if not key or data.get(access.ANONYMOUS_OWNER) != key or "_auth_user_id" in data:
        return None
    session._session_cache = data  # type: ignore[attr-defined]  # as if Django had read it
    return key


def _json(request: HttpRequest, status: int, data: dict[str, Any]) -> HttpResponse:
    """As ninja renders a view's answer (jobs.web.api)."""
    from jobs.web.api import api

    return api.create_response(request, data, status=status)


def _submit(request: HttpRequest, owner: str) -> HttpResponse | None:
    from jobs.web.api import JobIn, created_job

    try:
        body = JobIn.model_validate_json(request.body)
    except ValidationError:
        return None
    if body.tab is None:
        return None  # only a token's job may leave it out: Django says what is missing
    here = handoff.Here()
    job, found = service.submit_job(
        owner, body.tab, body.workflow, body.params, callback_url=body.callback_url, bind=here
    )
    handoff.submitted(job, found, here)
    return _json(request, 201, created_job(job))


def _upload(request: HttpRequest, owner: str) -> HttpResponse | None:
    from jobs.web.api import uploaded

    file = request.FILES.get("file")  # parsed by the CSRF check, as in Django's path
    if file is None:
        return None
    data = file.read(settings.COMFYWEB_MAX_UPLOAD_BYTES + 1)
    return _json(request, 201, uploaded(handoff.uploaded(accept_upload(owner, data, file.name or ""), data)))


def _output(request: HttpRequest, owner: str) -> HttpResponse | None:
    """An output's bytes for its owner, whole (jobs.web.views.output_file without a query or
    a range): text, a missing file, another's and a large one go to Django."""
    from jobs.web.views import download_name

    rest = request.path[len(OUTPUT_PREFIX) :]
    if not rest.endswith("/") or "Range" in request.headers:
        return None
    try:
        file_id = uuid.UUID(rest[:-1])
    except ValueError:
        return None
    found = sql.output_file(file_id)
    if found is None or found[1] != owner:
        return None
    output, _, slug = found
    if output.media == "text" or output.size is None or output.size > ranges.WHOLE_BYTES:
        return None
    with storage.open_file(output.file) as handle:
        data = handle.read()
    response = ranges.whole(data, output.content_type, filename=download_name(output, slug))
    response["Cache-Control"] = "private, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response


COMPLETE, TOO_BIG, GONE = "complete", "too big", "gone"


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, str]:
    """The request's body, or as much as `limit` (TOO_BIG: Django reads the rest and
    answers as it does), or GONE when the client left."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", GONE
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body"):
            return b"".join(chunks), COMPLETE
        if size > limit:
            return b"".join(chunks), TOO_BIG


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """`receive` as if nothing had been read: the body read so far first."""
    sent = False

    async def replayed() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replayed
