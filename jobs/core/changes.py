"""Numbered state changes of a tab (SPEC §5): each returns the event to push after commit."""

from __future__ import annotations

from typing import Any

from jobs.core import events, locks, sql
from jobs.core.events import Event
from jobs.core.models import Job, JobStatus
from jobs.core.serializers import job_dict_of_values


def job_event(job: Job | Any, ref: str | None = None, *, outputs: list[Any] | None = None) -> Event:
    """The `job.updated` of a change made in the current transaction (numbers it).

    Takes a job or its id: the row is read fresh here anyway, as plain values, in plain SQL
    (jobs.core.sql: this runs for every change of every job). Outputs are read only for a
    succeeded job, the only state that has any, unless the caller just stored them
    (jobs.core.attempts.finish passes them).
    """
    job_id = getattr(job, "id", job)
    row = sql.job_row(job_id)
    if row is None:
        raise Job.DoesNotExist(f"no job {job_id}")
    seq = locks.bump_seq(row["tab_id"])
    if row["status"] != JobStatus.SUCCEEDED:
        outputs = []
    elif outputs is None:
        outputs = sql.outputs_of(row["id"])
    return events.job_updated(row["tab_id"], job_dict_of_values(row, outputs), seq, ref)


def release_events(tab_id: Any) -> list[Event]:
    seq = locks.release_if_idle(tab_id)
    return [] if seq is None else [events.lock_updated(tab_id, None, seq)]
