"""The job service: every change of tab and job state, as plain synchronous functions.

Views, consumers and the relay call these; each returns the events its change produced
(jobs.events), which the caller publishes after the transaction committed. No function here
talks to ComfyUI or holds a transaction across network I/O (STYLE §3).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from jobs import events, locks, progress, storage
from jobs.events import Event
from jobs.models import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    Attempt,
    Job,
    JobStatus,
    Output,
    Server,
    Tab,
    Upload,
    Workflow,
)
from jobs.serializers import job_dict, jobs_queryset, lock_dict
from jobs.workflows import ParamError, clean_params, image_params


class ServiceError(Exception):
    """A request the service refuses; `code` and `status` become the JSON error (SPEC §4)."""

    status = 400

    def __init__(self, code: str, message: str, *, status: int | None = None, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        if status is not None:
            self.status = status


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


# --- tabs -------------------------------------------------------------------------------


def parse_uuid(value: Any, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise ServiceError("invalid_id", f"{what} is not a valid id.", field=what) from None


def claim_tab(tab_id: Any, session_key: str) -> Tab:
    """The tab, created for this session on first use; refused for another session (SPEC §1)."""
    tab_uuid = parse_uuid(tab_id, "tab")
    try:
        tab, _ = Tab.objects.get_or_create(id=tab_uuid, defaults={"session_key": session_key})
    except IntegrityError:  # two first uses at once: the other one created it
        tab = Tab.objects.get(id=tab_uuid)
    if tab.session_key != session_key:
        raise Forbidden("tab_taken", "This tab id belongs to another session.", status=403)
    return tab


def owned_tab(tab_id: Any, session_key: str) -> Tab:
    tab_uuid = parse_uuid(tab_id, "tab")
    tab = Tab.objects.select_related("server").filter(id=tab_uuid, session_key=session_key).first()
    if tab is None:
        raise NotFound("not_found", "No such tab.")
    return tab


def tab_connected(tab_id: Any, delta: int) -> None:
    Tab.objects.filter(id=tab_id).update(connected=F("connected") + delta, last_seen=timezone.now())


def tab_snapshot(tab_id: Any) -> dict[str, Any]:
    """What a tab needs to show its state: its lock, its jobs and the seq they are current to.

    Read in one transaction so that the seq matches the state (SPEC §5).
    """
    with transaction.atomic():
        tab = Tab.objects.select_related("server").get(id=tab_id)
        jobs = [job_dict(j) for j in jobs_queryset().filter(tab=tab)]
        return {
            "type": "tab.snapshot",
            "tab": str(tab.id),
            "lock": lock_dict(tab),
            "jobs": jobs,
            "seq": tab.seq,
        }


# --- jobs seen by users --------------------------------------------------------------------


def owned_job(job_id: Any, session_key: str, *, staff: bool = False) -> Job:
    job_uuid = parse_uuid(job_id, "job")
    query = jobs_queryset().filter(id=job_uuid)
    if not staff:
        query = query.filter(session_key=session_key)
    job = query.first()
    if job is None:
        raise NotFound("not_found", "No such job.")
    return job


def _check_limits(tab: Tab, session_key: str) -> None:
    active = Job.objects.filter(status__in=ACTIVE_STATUSES)
    if active.filter(tab=tab).count() >= settings.COMFYWEB_MAX_ACTIVE_PER_TAB:
        raise ServiceError(
            "too_many_jobs",
            f"This tab already has {settings.COMFYWEB_MAX_ACTIVE_PER_TAB} active jobs; "
            "wait for one to finish.",
            status=429,
        )
    if active.filter(session_key=session_key).count() >= settings.COMFYWEB_MAX_ACTIVE_PER_SESSION:
        raise ServiceError(
            "too_many_jobs",
            f"You already have {settings.COMFYWEB_MAX_ACTIVE_PER_SESSION} active jobs; "
            "wait for some to finish.",
            status=429,
        )


def _job_event(job: Job, ref: str | None = None) -> Event:
    """The `job.updated` of a change made in the current transaction (numbers it)."""
    seq = locks.bump_seq(job.tab_id)
    fresh = jobs_queryset().get(id=job.id)
    return events.job_updated(job.tab_id, job_dict(fresh), seq, ref)


def submit_job(
    session_key: str, tab_id: Any, workflow_slug: Any, params: Any, ref: str | None = None
) -> tuple[Job, list[Event]]:
    """Store a new pending job for a tab; the relay dispatches it."""
    tab_id = parse_uuid(tab_id, "tab")
    workflow = Workflow.objects.filter(slug=str(workflow_slug), enabled=True).first()
    if workflow is None:
        raise ServiceError("unknown_workflow", f"There is no workflow {workflow_slug!r}.", field="workflow")
    try:
        values = clean_params(workflow.params, params if params is not None else {})
    except ParamError as error:
        raise ServiceError("invalid_param", str(error), field=error.field) from None
    for name, upload_id in image_params(workflow.params, values).items():
        if not Upload.objects.filter(id=upload_id, session_key=session_key).exists():
            raise ServiceError("invalid_param", f"{name}: no such uploaded image.", field=name)
    with transaction.atomic():
        tab = claim_tab(tab_id, session_key)
        _check_limits(tab, session_key)
        job = Job.objects.create(tab=tab, session_key=session_key, workflow=workflow, params=values)
        event = _job_event(job, ref)
    return jobs_queryset().get(id=job.id), [event]


def retry_job(session_key: str, job_id: Any) -> tuple[Job, list[Event]]:
    job = owned_job(job_id, session_key)
    if job.is_active:
        raise ServiceError("job_active", "Only a finished job can be run again.", status=409)
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
        )
        if done:
            found = [_job_event(job)]
        else:
            Job.objects.filter(id=job.id).update(cancel_requested=True)
            found = []
    released = [] if not done else _release_events(job.tab_id)
    return CancelResult(jobs_queryset().get(id=job.id), found + released, needs_relay=not done)


def delete_job(session_key: str, job_id: Any) -> None:
    job = owned_job(job_id, session_key)
    if job.status not in FINISHED_STATUSES:
        raise ServiceError("job_active", "Cancel the job before deleting it.", status=409)
    names = list(job.outputs.values_list("file", flat=True))
    job.delete()
    for name in names:
        storage.delete(name)


# --- the relay's side of the life cycle -----------------------------------------------------


@dataclass(frozen=True)
class Ticket:
    """One attempt of one job, bound to one server: all its calls go to `server_url`."""

    job_id: uuid.UUID
    tab_id: uuid.UUID
    attempt: int
    server_id: int
    server_url: str
    graph: dict[str, Any]
    params_spec: list[dict[str, Any]]
    values: dict[str, Any]


def pending_job_ids(limit: int = 100) -> list[uuid.UUID]:
    return list(
        Job.objects.filter(status=JobStatus.PENDING, server__isnull=True)
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )


def start_attempt(job_id: uuid.UUID) -> tuple[Ticket | None, list[Event]]:
    """Bind a pending job to its tab's server (taking the lock if needed) as a new attempt."""
    found: list[Event] = []
    with transaction.atomic():
        job = Job.objects.select_related("workflow").filter(id=job_id).first()
        if job is None or job.status != JobStatus.PENDING or job.server_id is not None:
            return None, []
        server, lock_seq = locks.acquire(job.tab_id)
        number = job.attempt + 1
        # Race: two relays dispatching one job. The first to bind it wins; the other sees 0.
        won = Job.objects.filter(id=job.id, status=JobStatus.PENDING, server__isnull=True).update(
            server=server, attempt=number
        )
        if not won:
            return None, []
        Attempt.objects.create(job=job, number=number, server=server)
        if lock_seq is not None:
            tab = Tab.objects.select_related("server").get(id=job.tab_id)
            found.append(events.lock_updated(job.tab_id, lock_dict(tab), lock_seq))
        found.append(_job_event(job))
        ticket = Ticket(
            job_id=job.id,
            tab_id=job.tab_id,
            attempt=number,
            server_id=server.id,
            server_url=server.url,
            graph=job.workflow.graph,
            params_spec=job.workflow.params,
            values=job.params,
        )
    return ticket, found


def upload_for(upload_id: Any) -> Upload:
    return Upload.objects.get(id=upload_id)


def _advance(
    ticket_job: Any, attempt: int, status: str, from_statuses: tuple[str, ...], **fields: Any
) -> list[Event]:
    with transaction.atomic():
        moved = Job.objects.filter(id=ticket_job, attempt=attempt, status__in=from_statuses).update(
            status=status, **fields
        )
        if not moved:
            return []
        Attempt.objects.filter(job_id=ticket_job, number=attempt).update(status=status)
        return [_job_event(Job.objects.get(id=ticket_job))]


def mark_queued(job_id: Any, attempt: int, prompt_number: float | None) -> list[Event]:
    Attempt.objects.filter(job_id=job_id, number=attempt).update(prompt_number=prompt_number)
    return _advance(job_id, attempt, JobStatus.QUEUED, (JobStatus.PENDING,))


def mark_running(job_id: Any, attempt: int) -> list[Event]:
    return _advance(
        job_id, attempt, JobStatus.RUNNING, (JobStatus.PENDING, JobStatus.QUEUED), started_at=timezone.now()
    )


def is_cancel_requested(job_id: Any) -> bool:
    return Job.objects.filter(id=job_id, cancel_requested=True).exists()


def _release_events(tab_id: Any) -> list[Event]:
    seq = locks.release_if_idle(tab_id)
    return [] if seq is None else [events.lock_updated(tab_id, None, seq)]


@dataclass(frozen=True)
class StoredOutput:
    node_id: str
    index: int
    file: str
    filename: str
    kind: str
    content_type: str
    width: int | None
    height: int | None


def finish(
    job_id: Any,
    attempt: int,
    status: str,
    *,
    outputs: list[StoredOutput] = (),  # type: ignore[assignment]
    error: dict[str, Any] | None = None,
) -> list[Event]:
    """End an attempt and its job, once (SPEC §2.6), then release the tab's lock if idle.

    Race: a completion from the socket and one from a reconciliation, or two relays. Only the
    first conditional update moves the job; the second finds it finished and adds nothing.
    """
    now = timezone.now()
    with transaction.atomic():
        moved = Job.objects.filter(id=job_id, attempt=attempt, status__in=ACTIVE_STATUSES).update(
            status=status, finished_at=now, error=error
        )
        if not moved:
            return []
        Attempt.objects.filter(job_id=job_id, number=attempt).update(
            status=status, finished_at=now, error=error
        )
        for out in outputs:
            Output.objects.get_or_create(
                job_id=job_id,
                node_id=out.node_id,
                index=out.index,
                defaults={
                    "file": out.file,
                    "filename": out.filename,
                    "kind": out.kind,
                    "content_type": out.content_type,
                    "width": out.width,
                    "height": out.height,
                },
            )
        job = Job.objects.get(id=job_id)
        found = [_job_event(job)]
    progress.forget(job_id)
    return found + _release_events(job.tab_id)


def back_to_pending(job_id: Any, attempt: int, reason: str) -> list[Event]:
    """An attempt that did not reach its server's queue, or vanished from it (the server
    restarted): the job waits as pending for a new attempt.

    The tab keeps its lock (SPEC §2.4), so the next attempt goes to the same server.
    """
    with transaction.atomic():
        moved = Job.objects.filter(id=job_id, attempt=attempt, status__in=ACTIVE_STATUSES).update(
            status=JobStatus.PENDING, server=None
        )
        if not moved:
            return []
        Attempt.objects.filter(job_id=job_id, number=attempt).update(
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            error={"code": "unreachable", "message": reason},
        )
        return [_job_event(Job.objects.get(id=job_id))]


def active_attempts_on(server_id: int) -> list[tuple[uuid.UUID, uuid.UUID, int, str]]:
    """(job, tab, attempt, status) of every job placed on a server and not finished."""
    return list(
        Job.objects.filter(server_id=server_id, status__in=ACTIVE_STATUSES).values_list(
            "id", "tab_id", "attempt", "status"
        )
    )


def set_server_health(
    server_id: int, *, online: bool, error: str = "", queue_remaining: int | None = None
) -> None:
    now = timezone.now()
    fields: dict[str, Any] = {}
    if online:
        fields.update(status="online", last_seen=now, offline_since=None, last_error="")
    else:
        fields.update(status="offline", last_error=error[:2000])
        Server.objects.filter(id=server_id, offline_since__isnull=True).update(offline_since=now)
    if queue_remaining is not None:
        fields["queue_remaining"] = queue_remaining
    Server.objects.filter(id=server_id).update(**fields)
