"""The job service: what users do with jobs (submit, cancel, retry, delete), as plain functions.

Views and consumers call these; each returns the events its change produced (jobs.core.events),
which the caller publishes after the transaction committed. The relay's side of the life
cycle is in jobs.core.attempts. Nothing here talks to ComfyUI or holds a transaction across
network I/O (STYLE §3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from jobs.core import callbacks, events, locks, quotas, servers, sql, storage
from jobs.core.changes import job_event, release_events
from jobs.core.errors import NotFound, ServiceError, parse_uuid
from jobs.core.events import Event
from jobs.core.models import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    Job,
    JobStatus,
    Tab,
    WebhookCall,
)
from jobs.core.serializers import job_dict, jobs_queryset
from jobs.core.tabs import claim_tab
from jobs.core.workflows import UPLOAD_MEDIA, ParamError, clean_params, upload_params, with_model_choices
from jobs.pool import placement
from jobs.pool.requirements import of_job

RAW_GRAPH_RETRY = "A graph a ComfyUI client sent is run again by that client."


def owned_job(job_id: Any, session_key: str, *, staff: bool = False) -> Job:
    job_uuid = parse_uuid(job_id, "job")
    query = jobs_queryset().filter(id=job_uuid)
    if not staff:
        query = query.filter(session_key=session_key)
    job = query.first()
    if job is None:
        raise NotFound("not_found", "No such job.")
    return job


def submit_job(
    session_key: str,
    tab_id: Any,
    workflow_slug: Any,
    params: Any,
    ref: str | None = None,
    *,
    callback_url: Any = None,
    source: str = "",
    bind: Callable[[Job], list[Event] | None] | None = None,
) -> tuple[Job, list[Event]]:
    """Store a new pending job for a tab; the relay dispatches it. `callback_url`: a webhook
    called once when it ends (jobs.core.callbacks); `source`: the program that sent it (an
    API token's name), shown in the gallery. `bind`: binds the new job in the submission's
    transaction when it may (jobs.core.handoff.Here), returning the bind's events, which then
    stand for the submission's own (the job pending, on its server; one event and one commit
    fewer); None leaves the job to the relay."""
    tab_id = parse_uuid(tab_id, "tab")
    # The graph is not needed to accept a job (the relay reads it to dispatch): not decoded here.
    workflow = sql.enabled_workflow(str(workflow_slug))  # plain SQL: every submission reads it
    if workflow is None:
        raise ServiceError("unknown_workflow", f"There is no workflow {workflow_slug!r}.", field="workflow")
    requirements = workflow.requirements or {}
    param_models = requirements.get("param_models") or {}
    specs = with_model_choices(workflow.params, param_models, servers.offered_models)
    try:
        values = clean_params(specs, params if params is not None else {})
    except ParamError as error:
        raise ServiceError("invalid_param", str(error), field=error.field) from None
    kinds = {spec["name"]: spec["type"] for spec in workflow.params}
    for name, upload_id in upload_params(workflow.params, values).items():
        media = sql.upload_media(upload_id, session_key)
        wanted = kinds[name]
        if media is None:
            raise ServiceError("invalid_param", f"{name}: no such upload.", field=name)
        if media not in UPLOAD_MEDIA[wanted]:
            what = "an image" if wanted in ("image", "mask") else f"a {wanted}"
            article = "an" if media[0] in "aeiou" else "a"
            message = f"{name}: needs {what}, and this upload is {article} {media}."
            raise ServiceError("invalid_param", message, field=name)
    callback = callbacks.check_callback(callback_url, session_key)
    needs = of_job(requirements, values)
    verdict = placement.judge(locks.server_loads(for_update=False), needs)
    if verdict.refusal is not None:
        refusal = verdict.refusal
        field = next((n for n in param_models if str(values.get(n)) in refusal), None)
        raise ServiceError("no_capable_server", refusal, field=field)
    with transaction.atomic():
        tab = claim_tab(tab_id, session_key)
        quotas.check_submission(session_key, tab, workflow, values)
        job = sql.insert_job(
            tab, session_key, workflow, values, needs.to_json(), source[:200], timezone.now()
        )
        if callback is not None:
            WebhookCall.objects.create(job=job, url=callback)
        bound = bind(job) if bind is not None and ref is None else None
        if bound:
            return job, bound
        # Its event from what was stored (no re-read): a new job has no server and no outputs.
        event = events.job_updated(tab, job_dict(job, outputs=[]), locks.bump_seq(tab), ref)
    return job, [event]


def retry_job(session_key: str, job_id: Any) -> tuple[Job, list[Event]]:
    job = owned_job(job_id, session_key)
    if job.is_active:
        raise ServiceError("job_active", "Only a finished job can be run again.", status=409)
    if job.workflow is None:
        raise ServiceError("not_retryable", RAW_GRAPH_RETRY, status=409)
    return submit_job(session_key, job.tab_id, job.workflow.slug, job.params)


@dataclass
class CancelResult:
    job: Job
    events: list[Event] = field(default_factory=list)
    needs_relay: bool = False  # the prompt is on a server: the relay deletes or interrupts it


def cancel_job(session_key: str | None, job_id: Any, *, staff: bool = False) -> CancelResult:
    """Cancel a job (SPEC §2.7): a pending one at once; one on a server through the relay."""
    job = owned_job(job_id, session_key or "", staff=staff)
    if not job.is_active:
        return CancelResult(job)
    with transaction.atomic():
        # Race: the relay dispatching this job now. Only a job still pending is finished here;
        # if the relay queued it meanwhile, this update misses and the relay cancels it.
        done = Job.objects.filter(id=job.id, status=JobStatus.PENDING, server__isnull=True).update(
            status=JobStatus.CANCELLED,
            finished_at=timezone.now(),
            error={"code": "cancelled", "message": "Cancelled before it started.", "node": None},
            secrets=None,
        )
        if done:
            found = [job_event(job)]
        else:
            Job.objects.filter(id=job.id).update(cancel_requested=True)
            found = []
    released = [] if not done else release_events(job.tab_id)
    return CancelResult(jobs_queryset().get(id=job.id), found + released, needs_relay=not done)


def delete_job(session_key: str, job_id: Any) -> None:
    job = owned_job(job_id, session_key)
    if job.status not in FINISHED_STATUSES:
        raise ServiceError("job_active", "Cancel the job before deleting it.", status=409)
    names = [name for pair in job.outputs.values_list("file", "thumbnail") for name in pair if name]
    job.delete()
    for name in names:
        storage.delete(name)


FORCE_UNLOCK_ERROR = {
    "code": "force_unlocked",
    "message": "An operator released this tab's server; the job was cancelled.",
    "node": None,
}


@dataclass
class UnlockResult:
    events: list[Event] = field(default_factory=list)
    on_servers: list[str] = field(default_factory=list)  # job ids whose prompts the relay stops


def force_unlock(tab_id: Any) -> UnlockResult:
    """Staff: release a tab's lock now, cancelling that tab's active jobs and no one else's.

    The cancelled jobs' prompts are then deleted from their server's queue or interrupted by
    their own prompt_id through the relay; a result arriving later finds the job finished and
    is dropped (finishing is conditional on an active status).
    """
    tab_uuid = parse_uuid(tab_id, "tab")
    result = UnlockResult()
    with transaction.atomic():
        tab = Tab.objects.select_for_update().filter(id=tab_uuid).first()
        if tab is None:
            raise NotFound("not_found", "No such tab.")
        for job in Job.objects.filter(tab=tab, status__in=ACTIVE_STATUSES):
            moved = Job.objects.filter(id=job.id, status__in=ACTIVE_STATUSES).update(
                status=JobStatus.CANCELLED, finished_at=timezone.now(), error=FORCE_UNLOCK_ERROR, secrets=None
            )
            if moved:
                result.events.append(job_event(job))
                if job.server_id is not None:
                    result.on_servers.append(str(job.id))
    result.events += release_events(tab_uuid)
    return result
