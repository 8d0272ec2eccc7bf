"""The relay's side of a job's life cycle: attempts bound to one server, from dispatch to end.

Every transition is a conditional update on (job, attempt, expected status), so a late or
repeated message for an old attempt, or a second relay, can never move a job twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from types import EllipsisType
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from jobs.core import events, locks, progress, sql, storage
from jobs.core.changes import job_event, release_events
from jobs.core.events import Event
from jobs.core.models import (
    ACTIVE_STATUSES,
    Attempt,
    Job,
    JobStatus,
    Output,
    Server,
    ServerStatus,
    Tab,
    Upload,
)
from jobs.core.serializers import lock_shape
from jobs.core.workflows import upload_params
from jobs.pool import placement, schedule
from jobs.pool.balancer import UNPLANNED, Planned, ServerLoad, may_take_new_lock
from jobs.pool.dispatch import Waiting
from jobs.pool.requirements import Needs, graph_nodes, needs_from_json


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
    created_at: datetime | None = None  # the job's, for the time-to-dispatch metric
    files: tuple[str, ...] = ()  # the model files it needs, for the server's warmth
    # A graph a ComfyUI client sent whole (jobs.comfyapi): its frames are mirrored to the
    # client's tab, and `extra_data` (the client's own, API keys included) goes with the prompt.
    raw: bool = False
    extra_data: dict[str, Any] | None = field(default=None, repr=False)
    # Its uploads (id → stored name, sha256, bytes), read in the same trip to the database
    # thread as the bind (start_attempt_with_inputs); empty: the watcher reads them.
    inputs: dict[str, tuple[str, str, bytes]] = field(default_factory=dict, repr=False)


def job_needs(job: Job) -> Needs:
    """What the job needs of a server, as recorded at submission (a job submitted before
    needs were recorded: its workflow's node classes)."""
    if job.needs:
        return needs_from_json(job.needs)
    return Needs(graph_nodes(job.graph_to_run))


def _fail_now(job: Job, code: str, message: str) -> list[Event]:
    """End a job that no attempt can help; called inside the caller's transaction."""
    moved = Job.objects.filter(id=job.id, status=JobStatus.PENDING, server__isnull=True).update(
        status=JobStatus.FAILED,
        finished_at=timezone.now(),
        error={"code": code, "message": message, "node": None},
        secrets=None,
    )
    return [job_event(job)] if moved else []


def _gave_up(job: Job) -> str:
    """Why a job ran out of attempts, in the words of its last one (failover, a vanished
    prompt, a 5xx to the prompt): attempts are no longer spent on unreachable servers alone."""
    last = Attempt.objects.filter(job=job).order_by("-number").values_list("error", flat=True).first()
    reason = last.get("message") if isinstance(last, dict) else None
    return f"Gave up after {job.attempt} attempts." + (f" The last one: {reason}" if reason else "")


class WaitForRoom(Exception):
    """The job waits in ComfyWeb.

    `server_id`: its tab's server, which has no room in its queue, is unreachable, or lacks
    what the job needs while other jobs of the tab are on it; None when no server may take
    a new lock now. `reachable` is False when no server is reachable at all. `reason` is
    what the job's card says (JOB `waiting`), if more than its place in the queue.
    `reserves`: the servers whose next free slot the job waits for, which later jobs in the
    fair order may not take (jobs.pool.dispatch.Reservations); None means every server.
    """

    def __init__(
        self,
        server_id: int | None,
        *,
        reachable: bool = True,
        reason: dict[str, Any] | None = None,
        reserves: frozenset[int] | EllipsisType | None = ...,
    ) -> None:
        super().__init__(server_id)
        self.server_id = server_id
        self.reachable = reachable
        self.reason = reason
        if isinstance(reserves, EllipsisType):
            reserves = None if server_id is None else frozenset({server_id})
        self.reserves: frozenset[int] | None = reserves


def _usable(load: ServerLoad | None) -> bool:
    """The tab's server can run its next job: enabled (loads list only enabled servers) and
    reachable by fresh evidence (jobs.pool.trust)."""
    return load is not None and load.online


def _fail(job: Job, code: str, message: str) -> tuple[None, list[Event]]:
    found = _fail_now(job, code, message)
    return None, found + ([] if not found else release_events(job.tab_id))


def _waiting_for_siblings(load: ServerLoad, needs: Needs) -> dict[str, Any]:
    lacks = ", ".join(load.lacking(needs)) or "what it needs (its models are not known yet)"
    return {
        "code": "tab_busy",
        "message": f"Waiting for this tab's jobs on {load.name} to finish: {load.name} lacks {lacks}.",
        "what": lacks,
        "servers": [load.name],
        "state": "busy",
    }


def start_attempt(
    job_id: uuid.UUID, avoid: frozenset[int] = frozenset(), planned: Planned = UNPLANNED
) -> tuple[Ticket | None, list[Event]]:
    """Bind a pending job to its tab's server (taking the lock if needed) as a new attempt.

    Raises WaitForRoom when the job must wait. Fails the job when no server could ever run
    it (jobs.pool.placement). Returns no ticket when the job is no longer pending. `avoid`:
    servers that jobs earlier in the fair order wait for. `planned`: the server warmth chose
    for it in this pass, or None to wait (jobs.pool.schedule; UNPLANNED: warmth does not decide).

    Locks and models (amends SPEC §2.2): a tab locked to a server that cannot run this job
    (unreachable, or lacking a node class or model file) moves its lock when none of its
    active jobs is on that server; otherwise the job waits until they end. A tab is never
    bound to two servers at once.
    """
    found: list[Event] = []
    with transaction.atomic():
        found_job = sql.job_to_dispatch(job_id)  # plain SQL: every job is bound once or more
        if found_job is None:
            return None, []
        job, locked = found_job
        if job.status != JobStatus.PENDING or job.server_id is not None:
            return None, []
        if job.attempt >= settings.COMFYWEB_MAX_ATTEMPTS:
            return _fail(job, "too_many_attempts", _gave_up(job))
        needs = job_needs(job)
        loads = {load.id: load for load in locks.server_loads(warmth=bool(needs.models))}
        verdict = placement.judge(loads.values(), needs)
        if verdict.refusal is not None:
            return _fail(job, "no_capable_server", verdict.refusal)
        current = loads.get(locked) if locked is not None else None
        if locked is not None and not (current is not None and _usable(current) and current.fits(needs)):
            # Nothing of the tab on its server: the lock moves now (SPEC §2 invariant 1 holds,
            # there is nothing to keep together). Else it waits for the server to come back
            # (or for failover after COMFYWEB_FAILOVER_AFTER), or for the tab's jobs there to end.
            lock_seq = locks.release_from(job.tab_id, locked)
            if lock_seq is None:
                if current is not None and current.online:
                    raise WaitForRoom(
                        locked, reason=_waiting_for_siblings(current, needs), reserves=frozenset()
                    )
                raise WaitForRoom(locked)
            found.append(events.lock_updated(job.tab_id, None, lock_seq))
            locked = None
        if current is not None and locked is not None and not current.has_room:
            raise WaitForRoom(locked)
        try:
            server, lock_seq = locks.acquire(job.tab_id, needs, list(loads.values()), avoid, planned)
        except locks.NoServerAvailable:
            raise _no_room(loads, needs, verdict, planned) from None
        number = job.attempt + 1
        # Race: two relays dispatching one job. The first to bind it wins; the other sees 0.
        if not sql.bind_job(job.id, server.id, number):
            return None, []
        sql.insert_attempt(job.id, number, server.id, JobStatus.PENDING)
        if lock_seq is not None:
            found.append(events.lock_updated(job.tab_id, lock_shape(sql.lock_of(job.tab_id)), lock_seq))
        found.append(job_event(job))
        ticket = _ticket(job, number, server)
    return ticket, found


def start_attempt_with_inputs(
    job_id: uuid.UUID, avoid: frozenset[int] = frozenset(), planned: Planned = UNPLANNED
) -> tuple[Ticket | None, list[Event]]:
    """start_attempt, then the bound job's uploads read after its commit: one trip to the
    database thread for the relay instead of two (issue Y)."""
    ticket, found = start_attempt(job_id, avoid, planned)
    return (with_inputs(ticket) if ticket is not None else None), found


def with_inputs(ticket: Ticket) -> Ticket:
    """The ticket with its job's uploads read (after the bind's commit: no file is read
    holding the database's write lock)."""
    try:
        inputs = {
            str(u): upload_with_bytes(u) for u in upload_params(ticket.params_spec, ticket.values).values()
        }
    except (Upload.DoesNotExist, OSError):  # the watcher reads them again and reports why
        inputs = {}
    return replace(ticket, inputs=inputs)


def _no_room(
    loads: dict[int, ServerLoad], needs: Needs, verdict: placement.Verdict, planned: Planned
) -> WaitForRoom:
    """Why a job with no lock found no server, and what it reserves meanwhile."""
    if verdict.waiting is not None:  # only offline servers, or unread ones, could run it
        return WaitForRoom(None, reason=verdict.waiting.reason(), reserves=frozenset())
    if not any(load.online for load in loads.values()):
        return WaitForRoom(None, reachable=False)
    if isinstance(planned, int):  # it waits for the server warmth chose: only that one
        return WaitForRoom(None, reserves=frozenset({planned}))
    if planned is None:  # warmth hands it a slot in a later pass: it reserves nothing
        return WaitForRoom(None, reserves=frozenset())
    able = frozenset(s.id for s in loads.values() if may_take_new_lock(s, needs))
    everyone = frozenset(s.id for s in loads.values() if may_take_new_lock(s))
    return WaitForRoom(None, reserves=None if able >= everyone else able)


def _ticket(job: Job, attempt: int, server: Server) -> Ticket:
    return Ticket(
        job_id=job.id,
        tab_id=job.tab_id,
        attempt=attempt,
        server_id=server.id,
        server_url=server.url,
        graph=job.graph_to_run,
        params_spec=job.workflow.params if job.workflow is not None else raw_graph_uploads(job.params),
        values=job.params,
        created_at=job.created_at,
        files=tuple(job_needs(job).files()),
        raw=job.graph is not None,
        extra_data=job.secrets if isinstance(job.secrets, dict) else None,
    )


def raw_graph_uploads(bindings: Any) -> list[dict[str, Any]]:
    """A raw graph's uploads as parameter specs ("node.input" → upload id in `params`), so
    that the relay uploads and binds them as it does a workflow's (jobs.core.workflows)."""
    specs = []
    for name in bindings if isinstance(bindings, dict) else {}:
        node, _, input_name = str(name).rpartition(".")
        specs.append({"name": name, "type": "image", "node": node, "input": input_name})
    return specs


def bound_tickets(server_ids: list[int]) -> list[Ticket]:
    """Pending jobs bound to these servers (an attempt started) whose prompt is not queued."""
    jobs = Job.objects.filter(status=JobStatus.PENDING, server_id__in=server_ids).select_related(
        "workflow", "server"
    )
    tickets = []
    for job in jobs.order_by("created_at")[:500]:
        assert job.server is not None  # filtered on server_id__in
        tickets.append(_ticket(job, job.attempt, job.server))
    return tickets


def waiting_jobs() -> tuple[list[Waiting], dict[str, int]]:
    """Pending jobs not bound to a server (the 2,000 oldest), and each session's count of jobs
    on servers; in plain SQL (jobs.core.sql): the relay asks on every wake."""
    rows = sql.unbound_pending(2000)
    if not rows:
        return [], {}  # most of the time nothing waits
    return [Waiting(*row) for row in rows], sql.placed_per_owner(ACTIVE_STATUSES)


def any_needs_models(order: list[Waiting]) -> bool:
    """Whether any waiting job needs a model file (else there is nothing for warmth to plan,
    and a pass costs no query for it)."""
    return any(isinstance(w.needs, dict) and w.needs.get("models") for w in order)


def plan_placements(order: list[Waiting]) -> tuple[dict[uuid.UUID, Planned], float | None]:
    """Where warmth places this pass's waiting jobs that need model files (jobs.pool.schedule),
    from one read of the pool and of the jobs' needs; and in how many seconds the youngest
    job held back to settle (COMFYWEB_PLACEMENT_SETTLE) may be placed (None: none is)."""
    if not any_needs_models(order):
        return {}, None
    now = timezone.now()
    queued = [
        schedule.Queued(
            w.job_id, needs_from_json(w.needs), w.tab_server, waited=(now - w.created_at).total_seconds()
        )
        for w in order
    ]
    settle = settings.COMFYWEB_PLACEMENT_SETTLE
    with transaction.atomic():
        loads = locks.server_loads()
    plans: dict[uuid.UUID, Planned] = dict(schedule.plan(loads, queued, settle))
    young = [
        settle - q.waited
        for q in queued
        if q.needs.models and q.waited < settle and plans.get(q.job_id) is None
    ]
    return plans, (max(min(young), 0.01) if young else None)


def upload_with_bytes(upload_id: Any) -> tuple[str, str, bytes]:
    """An upload's stored name, its sha256 and its file's bytes, in one trip to the database
    thread."""
    found = sql.upload_file(upload_id)
    if found is None:
        raise Upload.DoesNotExist(f"no upload {upload_id}")
    name, sha256 = found
    return name, sha256, storage.read_bytes(name)


def _advance(
    ticket_job: Any, attempt: int, status: str, from_statuses: tuple[str, ...], **fields: Any
) -> list[Event]:
    """A conditional move of the job and its attempt, in plain SQL (jobs.core.sql): every
    job makes two of these."""
    with transaction.atomic(savepoint=False):  # nested: the caller's transaction, whole
        if not sql.move_job(ticket_job, attempt, status, from_statuses, fields):
            return []
        sql.move_attempt(ticket_job, attempt, {"status": status})
        return [job_event(ticket_job)]


def mark_queued(job_id: Any, attempt: int, prompt_number: float | None) -> list[Event]:
    with transaction.atomic(savepoint=False):  # one commit for both; nested in advance
        sql.move_attempt(job_id, attempt, {"prompt_number": prompt_number})
        return _advance(job_id, attempt, JobStatus.QUEUED, (JobStatus.PENDING,))


def mark_running(job_id: Any, attempt: int) -> list[Event]:
    with transaction.atomic(savepoint=False):  # nested in advance: no savepoint
        return _advance(
            job_id,
            attempt,
            JobStatus.RUNNING,
            (JobStatus.PENDING, JobStatus.QUEUED),
            started_at=timezone.now(),
        )


def is_cancel_requested(job_id: Any) -> bool:
    return sql.cancel_requested(job_id)


@dataclass
class Moves:
    """The moves the relay has for one attempt and has not written yet: its queueing (with
    the prompt number) and its start. A job that starts at once has both before either is
    written (its frames overtake the answer to POST /prompt), and then they take one trip."""

    queued: bool = False
    prompt_number: float | None = None
    running: bool = False


def advance(job_id: Any, attempt: int, moves: Moves) -> tuple[list[Event], bool]:
    """Write `moves` in one transaction, in the lifecycle's order, with an event for each
    that happened; and, when the job was queued, whether a cancel was asked for meanwhile
    (one trip for the relay)."""
    with transaction.atomic():
        found = _moved(job_id, attempt, moves)
    return found, moves.queued and is_cancel_requested(job_id)


def _moved(job_id: Any, attempt: int, moves: Moves) -> list[Event]:
    """The moves, in the lifecycle's order, in the caller's transaction."""
    found: list[Event] = []
    if moves.queued:
        found += mark_queued(job_id, attempt, moves.prompt_number)
    if moves.running:
        found += mark_running(job_id, attempt)
    return found


@dataclass(frozen=True)
class StoredOutput:
    node_id: str
    index: int
    file: str  # empty for a text
    filename: str
    kind: str
    content_type: str
    width: int | None
    height: int | None
    media: str = "image"
    duration: float | None = None
    size: int | None = None
    text: str = ""


def finish(
    job_id: Any,
    attempt: int,
    status: str,
    *,
    outputs: Sequence[StoredOutput] = (),
    error: dict[str, Any] | None = None,
    moves: Moves | None = None,
) -> list[Event]:
    """End an attempt and its job, once (SPEC §2.6), then release the tab's lock if idle.

    `moves`: the attempt's queueing and start that the relay had not written yet (a quick
    prompt ends before they are), written first in the same transaction, each with its event.

    Race: a completion from the socket and one from a reconciliation, or two relays. Only the
    first conditional update moves the job; the second finds it finished and adds nothing.
    """
    now = timezone.now()
    with transaction.atomic():
        moved = _moved(job_id, attempt, moves) if moves else []
        ended = {"finished_at": now, "error": error}
        if not sql.move_job(job_id, attempt, status, ACTIVE_STATUSES, {**ended, "secrets": None}):
            return moved
        sql.move_attempt(job_id, attempt, {"status": status, **ended})
        # One statement for every output: the conditional update above lets only one
        # finisher through, and a duplicate (job, node, index) is skipped, not an error; the
        # event shows what was stored, without reading it back.
        stored = list(
            {(o.node_id, o.index): Output(job_id=job_id, **asdict(o)) for o in reversed(outputs)}.values()
        )
        stored.sort(key=lambda o: (o.node_id, o.index))
        sql.insert_rows(stored, ignore_conflicts=True)  # stored again on a repeated completion
        ended_event = job_event(job_id, outputs=stored)
        # The tab's lock goes in the same commit when this was its last active job.
        found = [*moved, ended_event, *release_events(ended_event[1]["job"]["tab"])]
    progress.forget(job_id)
    return found


def fail_stranded(job_ids: Sequence[uuid.UUID], waited: float) -> list[Event]:
    """Fail jobs that waited `waited` seconds while no server was reachable
    (COMFYWEB_FAIL_WAITING_AFTER), with a message a person can act on. Only jobs still
    pending and on no server: one bound meanwhile has found a server after all."""
    seconds = round(waited)
    duration = f"{seconds // 60} minutes" if seconds >= 120 else f"{seconds} second{'s' * (seconds != 1)}"
    message = (
        f"No ComfyUI server was reachable for {duration}, so the job did not run. "
        "Run it again later, or ask an operator to check the pool."
    )
    found: list[Event] = []
    for job in Job.objects.filter(id__in=job_ids, status=JobStatus.PENDING, server__isnull=True):
        failed = _fail_now(job, "no_server", message)
        found += failed + (release_events(job.tab_id) if failed else [])
    return found


def unbind(job_id: Any, attempt: int, *, ran: bool = False) -> list[Event]:
    """A dispatch that never reached the server (refused, reset, a 5xx before POST /prompt):
    nothing ran, so it was no attempt. The job goes back to pending with its attempt count
    as before and no Attempt row, and a tab none of whose jobs are on that server any more
    loses its lock at once, to be placed on a live server.

    `ran`: the prompt was accepted and failed because the server lacks a model file its
    inventory listed (jobs.relay.misplaced). That is no attempt either: the server's fresh
    inventory no longer lists the file, so placement does not send the job there again.
    """
    statuses = ACTIVE_STATUSES if ran else (JobStatus.PENDING,)
    with transaction.atomic():
        job = Job.objects.filter(id=job_id, attempt=attempt, status__in=statuses).first()
        if job is None or job.server_id is None:
            return []
        server_id = job.server_id
        # Race: the job was cancelled, failed over or finished meanwhile; then it is not ours.
        moved = Job.objects.filter(id=job_id, attempt=attempt, status__in=statuses, server_id=server_id)
        if not moved.update(server=None, attempt=attempt - 1, status=JobStatus.PENDING, started_at=None):
            return []
        Attempt.objects.filter(job_id=job_id, number=attempt).delete()
        progress.forget(job_id)
        found = [job_event(job_id)]
        lock_seq = locks.release_from(job.tab_id, server_id)
        if lock_seq is not None:
            found.append(events.lock_updated(job.tab_id, None, lock_seq))
        return found


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
        return [job_event(job_id)]


def active_attempts_on(server_id: int) -> list[tuple[uuid.UUID, uuid.UUID, int, str]]:
    """(job, tab, attempt, status) of every job placed on a server and not finished."""
    return list(
        Job.objects.filter(server_id=server_id, status__in=ACTIVE_STATUSES).values_list(
            "id", "tab_id", "attempt", "status"
        )
    )


def fail_over_unreachable(after: float) -> list[Event]:
    """Move the tabs of servers unreachable for `after` seconds (or disabled) to other servers.

    SPEC §2.5: only then does a lock move. Each active job of such a tab goes back to pending
    and its next attempt, on the server the balancer picks, runs its whole life cycle there
    (inputs uploaded again). A late result of the old attempt is dropped: finishing is
    conditional on the attempt number.
    """
    cutoff = timezone.now() - timedelta(seconds=after)
    gone = Server.objects.filter(Q(enabled=False) | Q(status=ServerStatus.OFFLINE, offline_since__lt=cutoff))
    found: list[Event] = []
    for tab_id, server_id in Tab.objects.filter(server__in=gone).values_list("id", "server_id"):
        with transaction.atomic():
            # Race: the server came back, or another relay moved the tab. Re-check both.
            if not Tab.objects.filter(id=tab_id, server_id=server_id, server__in=gone).exists():
                continue
            for job in Job.objects.filter(tab_id=tab_id, server_id=server_id, status__in=ACTIVE_STATUSES):
                moved = Job.objects.filter(id=job.id, attempt=job.attempt, status__in=ACTIVE_STATUSES).update(
                    status=JobStatus.PENDING, server=None
                )
                if moved:
                    Attempt.objects.filter(job=job, number=job.attempt).update(
                        status=JobStatus.FAILED,
                        finished_at=timezone.now(),
                        error={"code": "unreachable", "message": "The server stopped answering; moved."},
                    )
                    progress.forget(job.id)
                    found.append(job_event(job))
            Tab.objects.filter(id=tab_id).update(server=None, locked_at=None)
            found.append(events.lock_updated(tab_id, None, locks.bump_seq(tab_id)))
    return found
