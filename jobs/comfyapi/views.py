"""POST/GET /prompt, /queue, /interrupt, /history and the Jobs API, as one ComfyUI server.

Each view parses, calls the job service and shapes the answer (jobs.comfyapi.shapes). The
listings are the caller's: in the anonymous mode every client's (docs/comfyui-endpoint.md).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse

from jobs.comfyapi import shapes
from jobs.comfyapi.http import BadBody, comfy_view, empty, json_body, ok, prompt_error
from jobs.comfyapi.identity import Caller, tab_of
from jobs.core import events, graphs, handoff, service
from jobs.core.errors import ServiceError
from jobs.core.models import ACTIVE_STATUSES, FINISHED_STATUSES, Job, JobStatus

MAX_HISTORY = 10_000  # as ComfyUI keeps at most


def _jobs(caller: Caller):
    return Job.objects.filter(session_key=caller.owner_key, workflow__isnull=True).defer("secrets")


def _job(caller: Caller, prompt_id: Any) -> Job | None:
    try:
        job_id = uuid.UUID(str(prompt_id))
    except ValueError:
        return None
    return _jobs(caller).filter(id=job_id).prefetch_related("outputs").first()


@comfy_view(("GET", "POST"))
def prompt(request: HttpRequest, caller: Caller) -> HttpResponse:
    if request.method == "GET":
        remaining = _jobs(caller).filter(status__in=ACTIVE_STATUSES).count()
        return ok({"exec_info": {"queue_remaining": remaining}})
    body = json_body(request)
    if not isinstance(body, dict):
        raise BadBody("The body must be a JSON object.")
    if "prompt" not in body:
        return prompt_error("no_prompt", "No prompt provided", details="No prompt provided")
    client_id = str(body["client_id"]) if isinstance(body.get("client_id"), str) else ""
    try:
        job, found = graphs.submit_graph(
            caller.owner_key,
            tab_of(caller, client_id),
            body["prompt"],
            prompt_id=body.get("prompt_id"),
            client_id=client_id,
            extra_data=body.get("extra_data"),
            source=caller.client_name,
        )
    except graphs.GraphRefused as refused:
        return ok(refused.body, 400)
    except ServiceError as error:
        return prompt_error(error.code, error.message, error.status)
    handoff.submitted(job, found)
    return ok({"prompt_id": str(job.id), "number": shapes.number_of(job), "node_errors": {}})


@comfy_view(("GET", "POST"))
def queue(request: HttpRequest, caller: Caller) -> HttpResponse:
    if request.method == "GET":
        active = list(_jobs(caller).filter(status__in=ACTIVE_STATUSES).order_by("created_at"))
        running = [shapes.queue_item(j) for j in active if j.status == JobStatus.RUNNING]
        pending = [shapes.queue_item(j) for j in active if j.status != JobStatus.RUNNING]
        return ok({"queue_running": running, "queue_pending": pending})
    body = json_body(request)
    waiting = _jobs(caller).filter(status__in=(JobStatus.PENDING, JobStatus.QUEUED))
    if isinstance(body, dict) and body.get("clear") is True:
        _cancel(caller, waiting.values_list("id", flat=True))
    if isinstance(body, dict) and isinstance(body.get("delete"), list):
        ids = [i for i in (_uuid(v) for v in body["delete"][:1000]) if i is not None]
        _cancel(caller, waiting.filter(id__in=ids).values_list("id", flat=True))
    return empty()


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _cancel(caller: Caller, job_ids: Any) -> None:
    for job_id in list(job_ids):
        result = service.cancel_job(caller.owner_key, job_id)
        events.publish_sync(result.events)
        if result.needs_relay:
            events.nudge_relay_sync("cancel", job=str(job_id))


@comfy_view(("POST",))
def interrupt(request: HttpRequest, caller: Caller) -> HttpResponse:
    """Targeted (`prompt_id`): that prompt of the caller's, if it runs. Without one,
    ComfyUI stops whatever runs; here only the running prompts of the clientId named by
    `client_id`, if any: a caller never stops another client's prompt."""
    body = json_body(request)
    body = body if isinstance(body, dict) else {}
    running = _jobs(caller).filter(status=JobStatus.RUNNING)
    if body.get("prompt_id") is not None:
        target = _uuid(body["prompt_id"])
        running = running.filter(id=target) if target else running.none()
    elif isinstance(body.get("client_id"), str) and body["client_id"]:
        running = running.filter(tab_id=tab_of(caller, body["client_id"]))
    else:
        running = running.none()  # a bare interrupt: nothing the caller can be told apart by
    _cancel(caller, running.values_list("id", flat=True))
    return empty()


@comfy_view(("GET", "POST"))
def history(request: HttpRequest, caller: Caller) -> HttpResponse:
    finished = (
        _jobs(caller)
        .filter(status__in=FINISHED_STATUSES)
        .exclude(status=JobStatus.CANCELLED, started_at__isnull=True)
    )
    if request.method == "POST":
        body = json_body(request)
        body = body if isinstance(body, dict) else {}
        doomed = finished.none()
        if body.get("clear") is True:
            doomed = finished
        elif isinstance(body.get("delete"), list):
            ids = [i for i in (_uuid(v) for v in body["delete"][:1000]) if i is not None]
            doomed = finished.filter(id__in=ids)
        for job_id in list(doomed.values_list("id", flat=True)):
            service.delete_job(caller.owner_key, job_id)
        return empty()
    try:
        limit = min(int(request.GET.get("max_items", MAX_HISTORY)), MAX_HISTORY)
        offset = max(int(request.GET.get("offset", 0)), 0)
    except ValueError:
        return prompt_error("invalid_request", "max_items and offset must be integers")
    newest = finished.order_by("-created_at").prefetch_related("outputs")[offset : offset + max(limit, 0)]
    entries = {str(j.id): shapes.history_entry(j, j.outputs.all()) for j in reversed(list(newest))}
    return ok(entries)


@comfy_view(("GET",))
def history_of(request: HttpRequest, caller: Caller, prompt_id: str) -> HttpResponse:
    job = _job(caller, prompt_id)
    if job is None or job.is_active or (job.status == JobStatus.CANCELLED and job.started_at is None):
        return ok({})
    return ok({str(job.id): shapes.history_entry(job, job.outputs.all())})


JOB_STATUSES = ("pending", "in_progress", "completed", "failed", "cancelled")


def _jobs_error(message: str, status: int = 400) -> HttpResponse:
    return ok({"error": message}, status)


@comfy_view(("GET",))
def jobs_list(request: HttpRequest, caller: Caller) -> HttpResponse:
    query = request.GET
    wanted = list(JOB_STATUSES)
    if query.get("status"):
        wanted = [s.strip().lower() for s in query["status"].split(",") if s.strip()]
        invalid = [s for s in wanted if s not in JOB_STATUSES]
        if invalid:
            return _jobs_error(
                f"Invalid status value(s): {', '.join(invalid)}. Valid values: {', '.join(JOB_STATUSES)}"
            )
    if query.get("sort_by", "created_at") not in ("created_at", "execution_duration"):
        return _jobs_error("sort_by must be 'created_at' or 'execution_duration'")
    order = query.get("sort_order", "desc").lower()
    if order not in ("asc", "desc"):
        return _jobs_error("sort_order must be 'asc' or 'desc'")
    try:
        limit = int(query["limit"]) if "limit" in query else None
        offset = max(0, int(query.get("offset", 0)))
    except ValueError:
        return _jobs_error("limit and offset must be integers")
    if limit is not None and limit <= 0:
        return _jobs_error("limit must be a positive integer")
    rows = (
        _jobs(caller).order_by("created_at" if order == "asc" else "-created_at").prefetch_related("outputs")
    )
    items = [shapes.jobs_item(j, j.outputs.all()) for j in rows[:MAX_HISTORY]]
    items = [i for i in items if i["status"] in wanted]
    total = len(items)
    page = items[offset : offset + limit] if limit is not None else items[offset:]
    pagination = {"offset": offset, "limit": limit, "total": total, "has_more": offset + len(page) < total}
    return ok({"jobs": page, "pagination": pagination})


@comfy_view(("GET",))
def jobs_one(request: HttpRequest, caller: Caller, job_id: str) -> HttpResponse:
    job = _job(caller, job_id)
    if job is None:
        return _jobs_error("Job not found", 404)
    return ok(shapes.jobs_item(job, job.outputs.all(), whole=True))


@comfy_view(("POST",))
def jobs_cancel_one(request: HttpRequest, caller: Caller, job_id: str) -> HttpResponse:
    job = _job(caller, job_id)
    active = job is not None and job.is_active
    if job is not None and active:
        _cancel(caller, [job.id])
    return ok({"cancelled": active})


@comfy_view(("POST",))
def jobs_cancel(request: HttpRequest, caller: Caller) -> HttpResponse:
    body = json_body(request)
    ids = body.get("job_ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return _jobs_error("job_ids must be a list of job ids")
    found = [_uuid(i) for i in ids[:1000]]
    if any(i is None for i in found):
        return _jobs_error("Invalid job id")
    active = _jobs(caller).filter(id__in=found, status__in=ACTIVE_STATUSES).values_list("id", flat=True)
    chosen = list(active)
    _cancel(caller, chosen)
    return ok({"cancelled": bool(chosen)})
