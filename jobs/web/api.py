"""The JSON API of SPEC §4, on django-ninja: bodies validated into schemas, OpenAPI generated.

Each route validates, calls one service function and serializes the result (STYLE §2).
Every error is `{"error": {"code", "message"}}`, never an HTML page: the handlers below cover
the routes, jobs.web.http covers what never reaches them (unknown paths, 405, oversized bodies).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.urls import reverse
from ninja import Field, File, NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.files import UploadedFile
from ninja.security import APIKeyCookie, HttpBearer

from jobs.core import errors, events, handoff, servers, service, tabs
from jobs.core.models import Job, Upload, Workflow
from jobs.core.serializers import job_dict, jobs_queryset, lock_dict
from jobs.core.uploads import accept_upload
from jobs.core.workflows import public_params, with_model_choices
from jobs.web import access, http

log = logging.getLogger("jobs.web.api")

# The tab of a program's jobs when it names none: one per token (uuid5 of the token's id).
TOKEN_TABS = uuid.UUID("8f9b7a52-3c1d-4e0f-9a6b-2d5c7e1f4a30")


class SessionCookie(APIKeyCookie):
    """The browser session (started by the first page view); CSRF is checked for unsafe methods."""

    param_name = settings.SESSION_COOKIE_NAME

    def authenticate(self, request: HttpRequest, key: str | None) -> str | None:
        return access.owner_of(request)


class BearerToken(HttpBearer):
    """A person's API token (issue T): `Authorization: Bearer <token>`, checked by
    jobs.web.access before the view; no cookie, so no CSRF."""

    def authenticate(self, request: HttpRequest, token: str) -> str | None:
        return access.owner_of(request) if access.token_of(request) is not None else None


api = NinjaAPI(
    title="ComfyWeb API",
    version="1.0",
    description="Run ComfyUI workflows on a pool of servers (SPEC §4).",
    auth=[BearerToken(), SessionCookie()],
    urls_namespace="api",
)


# --- schemas ---------------------------------------------------------------------------------


class ErrorDetail(Schema):
    code: str
    message: str
    field: str | None = None


class ErrorOut(Schema):
    error: ErrorDetail


class ParamOut(Schema):
    name: str
    type: str
    label: str | None = None
    default: Any = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: list[Any] | None = None


class WorkflowOut(Schema):
    slug: str
    name: str
    description: str = ""
    params: list[ParamOut]


class WorkflowsOut(Schema):
    workflows: list[WorkflowOut]


class UploadOut(Schema):
    id: uuid.UUID
    url: str
    media: str  # image, video or audio
    content_type: str
    width: int | None  # None for a sound
    height: int | None
    duration: float | None  # seconds, for video and audio
    size: int


class ProgressOut(Schema):
    value: float
    max: float
    node: str | None = None


class JobErrorOut(Schema):
    code: str
    message: str
    node: str | None = None


class OutputOut(Schema):
    url: str
    filename: str
    media: str  # image, animated, video, audio, text, 3d or file
    content_type: str
    width: int | None
    height: int | None
    duration: float | None  # seconds: video, audio, animations
    size: int | None  # bytes
    kind: str  # the server's folder type: output or temp
    text: str | None = None  # a text result's text


class WaitingOut(Schema):
    code: str
    message: str
    # What it waits for, for the page to word it (no_capable_server_online, tab_busy).
    what: str | None = None
    servers: list[str] | None = None
    state: str | None = None


class JobOut(Schema):
    id: uuid.UUID
    tab: uuid.UUID
    workflow: str
    status: str
    server: str | None
    attempt: int
    params: dict[str, Any]
    progress: ProgressOut | None
    queue_position: int | None
    waiting: WaitingOut | None = None
    error: JobErrorOut | None
    outputs: list[OutputOut]
    created_at: str
    started_at: str | None
    finished_at: str | None


class JobEnvelope(Schema):
    job: JobOut


class JobsOut(Schema):
    jobs: list[JobOut]


class LockOut(Schema):
    server: str
    since: str | None


class TabOut(Schema):
    tab: uuid.UUID
    lock: LockOut | None
    jobs: list[JobOut]


class JobIn(Schema):
    # Lengths bound what a hostile body can make the service look up or echo back.
    tab: str | None = Field(None, max_length=64, description="required, except with a token (its own tab)")
    workflow: str = Field(max_length=100)
    params: dict[str, Any] = {}
    callback_url: str | None = Field(None, max_length=2000, description="a webhook called when the job ends")


ERRORS = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    405: ErrorOut,
    413: ErrorOut,
    429: ErrorOut,
    500: ErrorOut,
}


def _ok(status: int, schema: Any) -> dict[int, Any]:
    return {status: schema, **ERRORS}


# --- errors ------------------------------------------------------------------------------------


def error_response(
    request: HttpRequest, status: int, code: str, message: str, field: str | None = None
) -> HttpResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return api.create_response(request, {"error": body}, status=status)


@api.exception_handler(errors.ServiceError)
def _service_error(request: HttpRequest, exc: errors.ServiceError) -> HttpResponse:
    return error_response(request, exc.status, exc.code, exc.message, exc.field)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "payload"))
    message = (
        f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "Invalid request."))
    )
    return error_response(request, 400, "invalid_request", message, where or None)


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(request, 401, "no_session", "No session: open the app page first.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = "csrf_failed" if "CSRF" in str(exc) else http.STATUS_CODES.get(exc.status_code, "bad_request")
    return error_response(request, exc.status_code, code, str(exc))


# Errors whose answer never depends on the exception: (status, code, message).
FIXED_ANSWERS: dict[type[Exception], tuple[int, str, str]] = {
    Http404: (404, "not_found", "Not found."),
    RequestDataTooBig: (413, "request_too_large", "The request body is too large."),
    SuspiciousOperation: (400, "bad_request", "The request could not be read."),
    MultiPartParserError: (400, "bad_request", "The multipart body could not be read."),
    # `[[[[…` thousands deep makes json's parser recurse: a bad body, not a bug of ours.
    RecursionError: (400, "bad_request", "The request body is nested too deeply."),
}


def _fixed_answer(status: int, code: str, message: str):
    def handler(request: HttpRequest, exc: Exception) -> HttpResponse:
        return error_response(request, status, code, message)

    return handler


for _exception, _answer in FIXED_ANSWERS.items():
    api.add_exception_handler(_exception, _fixed_answer(*_answer))


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A bug: logged with its traceback, answered without one (ninja would send it under DEBUG)."""
    log.exception("unhandled error in %s %s", request.method, request.path)
    return http.json_error(500)


# --- routes --------------------------------------------------------------------------------


def _session(request: HttpRequest) -> str:
    return request.auth  # type: ignore[attr-defined]  # set by ninja's auth, unknown to HttpRequest


def workflow_list() -> list[dict[str, Any]]:
    """Enabled workflows as users see them: a model parameter offers the files the pool has."""
    found = []
    for w in Workflow.objects.filter(enabled=True):
        models = (w.requirements or {}).get("param_models") or {}
        params = with_model_choices(w.params, models, servers.offered_models) if models else w.params
        found.append(
            {"slug": w.slug, "name": w.name, "description": w.description, "params": public_params(params)}
        )
    return found


@api.get("/workflows/", response=WorkflowsOut, auth=None, tags=["workflows"])
def list_workflows(request: HttpRequest):
    return {"workflows": workflow_list()}


@api.post("/uploads/", response=_ok(201, UploadOut), tags=["uploads"])
def upload_image(request: HttpRequest, file: File[UploadedFile]):
    data = file.read(settings.COMFYWEB_MAX_UPLOAD_BYTES + 1)
    return Status(
        201, uploaded(handoff.uploaded(accept_upload(_session(request), data, file.name or ""), data))
    )


def uploaded(upload: Upload) -> dict[str, Any]:
    """The answer to an upload (also jobs.web.hot's)."""
    return {
        "id": str(upload.id),
        "url": reverse("upload-file", args=[upload.id]),
        "media": upload.media,
        "content_type": upload.content_type,
        "width": upload.width,
        "height": upload.height,
        "duration": upload.duration,
        "size": upload.size,
    }


@api.post("/jobs/", response=_ok(201, JobEnvelope), tags=["jobs"])
def create_job(request: HttpRequest, body: JobIn):
    token = access.token_of(request)
    tab = body.tab
    if tab is None:
        if token is None:
            raise errors.ServiceError("invalid_request", "tab: Field required", field="tab")
        tab = str(uuid.uuid5(TOKEN_TABS, str(token.pk)))  # a program's jobs: its token's own tab
    source = f"API token “{token.name}”" if token is not None else ""
    here = handoff.Here()
    job, found = service.submit_job(
        _session(request),
        tab,
        body.workflow,
        body.params,
        callback_url=body.callback_url,
        source=source,
        bind=here,
    )
    handoff.submitted(job, found, here)
    return Status(201, created_job(job))


def created_job(job: Job) -> dict[str, Any]:
    """The answer to a submission (also jobs.web.hot's)."""
    return {"job": job_dict(job, outputs=[])}


@api.get("/jobs/", response=_ok(200, JobsOut), tags=["jobs"])
def list_jobs(request: HttpRequest, tab: str | None = None):
    query = jobs_queryset().filter(session_key=_session(request))
    if tab:
        query = query.filter(tab_id=errors.parse_uuid(tab, "tab"))
    return {"jobs": [job_dict(j) for j in query[:500]]}


@api.get("/jobs/{job_id}/", response=_ok(200, JobEnvelope), tags=["jobs"])
def get_job(request: HttpRequest, job_id: str):
    return {"job": job_dict(service.owned_job(job_id, _session(request)))}


@api.post("/jobs/{job_id}/cancel/", response=_ok(200, JobEnvelope), tags=["jobs"])
def cancel_job(request: HttpRequest, job_id: str):
    result = service.cancel_job(_session(request), job_id)
    events.publish_sync(result.events)
    if result.needs_relay:
        events.nudge_relay_sync("cancel", job=str(result.job.id))
    return {"job": job_dict(result.job)}


@api.post("/jobs/{job_id}/retry/", response=_ok(201, JobEnvelope), tags=["jobs"])
def retry_job(request: HttpRequest, job_id: str):
    job, found = service.retry_job(_session(request), job_id)
    handoff.submitted(job, found)
    return Status(201, {"job": job_dict(job)})


@api.delete("/jobs/{job_id}/", response=_ok(204, None), tags=["jobs"])
def delete_job(request: HttpRequest, job_id: str):
    service.delete_job(_session(request), job_id)
    return Status(204, None)


@api.get("/tabs/{tab_id}/", response=_ok(200, TabOut), tags=["tabs"])
def get_tab(request: HttpRequest, tab_id: str):
    tab = tabs.owned_tab(tab_id, _session(request))
    jobs = [job_dict(j) for j in jobs_queryset().filter(tab=tab)]
    return {"tab": tab.id, "lock": lock_dict(tab), "jobs": jobs}
