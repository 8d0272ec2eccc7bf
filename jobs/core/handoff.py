"""A new job bound where it was submitted, and handed to the relay of this process (issue Y).

By default the relay runs inside the web process. A submission then used to nudge it through
the channel layer; the relay's pass waited for the database thread (the one the request had
just used), read the waiting jobs and bound the job in another transaction. When nothing else
waits, the fair order is this job alone and there is nothing for a pass to decide: the
request's own thread binds it (start_attempt, as the pass would: no reservation, no plan) and
the relay gets its ticket on its loop, ahead of the request's events. A browser's or the
API's submission binds it inside its own transaction (`Here`, a savepoint): one commit fewer,
and the bind's events stand for the submission's own.

Only when it cannot change an outcome: a relay in this process holds every enabled server
(a ticket for a server it does not watch would wait for another relay's scan), no other job
waits unbound (it would go first in the fair order), and warmth does not plan the job (its
plan needs the whole queue). Anything else, and any failure here, falls back to the nudge:
the relay's pass then does what it always did. The relay still polls the database, so a
ticket lost with a relay that stops loses no job (its bound job is resubmitted by the relay
that holds the server: Relay.submit_bound).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Protocol

from django.conf import settings
from django.db import transaction

from jobs.core import attempts, events, locks, sql
from jobs.core.events import Event
from jobs.core.models import Job, Upload
from jobs.pool.balancer import pick_server

log = logging.getLogger(__name__)


class Taker(Protocol):
    """The relay of this process, as a submission sees it."""

    def holds_every_server(self) -> bool:
        """Whether it watches every enabled server (it holds all their leases)."""
        ...

    def take(self, ticket: attempts.Ticket) -> None:
        """Upload and queue a bound attempt; callable from any thread."""
        ...

    def prefetch(self, server_id: int, stored: str, sha256: str, data: bytes) -> None:
        """Send an input to a server ahead of its job; callable from any thread."""
        ...


_taker: Taker | None = None
_guard = threading.Lock()


def register(taker: Taker) -> None:
    global _taker
    with _guard:
        _taker = taker


def unregister(taker: Taker) -> None:
    global _taker
    with _guard:
        if _taker is taker:
            _taker = None


class Here:
    """A submission's offer to bind its new job in its own transaction (service.submit_job's
    `bind`), on the terms `submitted` binds it on; it keeps the ticket for `submitted`."""

    def __init__(self) -> None:
        self.taker = _taker
        self.ticket: attempts.Ticket | None = None

    def __call__(self, job: Job) -> list[Event] | None:
        if self.taker is None:
            return None
        try:
            with transaction.atomic():  # a savepoint: whatever happens, the submission stands
                if not _may_bind_here(job, self.taker):
                    return None
                ticket, found = attempts.start_attempt(job.id)
                if ticket is None:  # it failed (no capable server…): undone, the pass decides
                    raise _NotBound
        except (attempts.WaitForRoom, _NotBound):
            return None  # the pass keeps it waiting (its reason, its reservation), or fails it
        except Exception:
            log.exception("binding job %s in its submission failed; the relay's pass binds it", job.id)
            return None
        self.ticket = ticket
        return found


class _NotBound(Exception):
    """Rolls back what a bind that found no server wrote in the submission's transaction."""


def submitted(job: Job, found: list[Event], here: Here | None = None) -> None:
    """Publish a new job's events and get it dispatched: bound here and handed to this
    process's relay when that changes nothing but the time it takes, else by a nudge. The
    job is stored already: nothing here may fail the request. `here`: the submission bound
    it already (`found` are the bind's events), or tried to."""
    taker = _taker
    ticket: attempts.Ticket | None = None
    bound: list[Event] = []
    if here is not None and here.ticket is not None and here.taker is not None:
        _hand_over(here.taker, attempts.with_inputs(here.ticket), found)
        return
    if taker is not None and here is None:
        try:
            if _may_bind_here(job, taker):
                ticket, bound = attempts.start_attempt_with_inputs(job.id)
        except attempts.WaitForRoom:
            pass  # the pass keeps it waiting, with its reason and reservation
        except Exception:
            log.exception("binding job %s where it was submitted failed; the relay's pass binds it", job.id)
    if taker is None or ticket is None:
        events.publish_and_nudge_sync(found + bound, "submit")
        return
    _hand_over(taker, ticket, found + bound)


def _hand_over(taker: Taker, ticket: attempts.Ticket, found: list[Event]) -> None:
    # The ticket first: the prompt's POST leaves while the request's events and answer go
    # out, which are not on the way to the job's result (issue Y). Its first event comes
    # after the server's answer and a write, long after these; a socket puts any early one
    # back in seq order all the same (jobs.core.ordering).
    taker.take(ticket)
    events.publish_sync(found)


def _may_bind_here(job: Job, taker: Taker) -> bool:
    if not taker.holds_every_server():
        return False
    if settings.COMFYWEB_WARM_PLACEMENT and attempts.job_needs(job).models:
        return False
    return not sql.others_wait_unbound(job.id)


def uploaded(upload: Upload, data: bytes) -> Upload:
    """An upload just stored, sent on to the server its job will be placed on when that is
    known now: the pool is idle, so the balancer will choose as it chooses now (the lowest
    score, then the name). The browser's submission of the job then finds the input there
    (jobs.relay.inputs) instead of waiting for its upload. A wrong guess costs one upload and
    no time; on a busy pool none is made. Returns the upload, for the caller's answer."""
    taker = _taker
    if taker is None or not taker.holds_every_server() or upload.media != "image":
        return upload
    try:
        loads = locks.server_loads(for_update=False, warmth=False, counted=True)
        if any(load.outstanding for load in loads):
            return upload  # a busy pool: the guess would often be wrong
        choice = pick_server(loads)
    except Exception:  # a guess only: the job uploads its input itself
        log.exception("could not guess the server of upload %s", upload.id)
        return upload
    if choice is not None:
        send = functools.partial(taker.prefetch, choice.id, str(upload.file), upload.sha256, data)
        _after_answer_or_now(send)
    return upload


# What a request leaves for after its answer (answer_first), None outside one.
_after_answer: ContextVar[list[Callable[[], None]] | None] = ContextVar("after_answer", default=None)


@contextlib.contextmanager
def answer_first() -> Iterator[list[Callable[[], None]]]:
    """Within it, an upload is sent ahead only once the request's answer went out: the
    caller runs what the list holds then (jobs.web.hot). Started before, its work on the
    event loop delayed the answer, while it has until the browser's submission arrives; after
    it, that work overlaps the browser's own."""
    later: list[Callable[[], None]] = []
    token = _after_answer.set(later)
    try:
        yield later
    finally:
        _after_answer.reset(token)


def _after_answer_or_now(call: Callable[[], None]) -> None:
    later = _after_answer.get()
    if later is None:
        call()
    else:
        later.append(call)
