"""Numbered state changes of a tab (SPEC §5): each returns the event to push after commit."""

from __future__ import annotations

from typing import Any

from jobs import events, locks
from jobs.events import Event
from jobs.models import Job, JobStatus
from jobs.serializers import LARGE_RELATED, job_dict


def job_event(job: Job | Any, ref: str | None = None) -> Event:
    """The `job.updated` of a change made in the current transaction (numbers it).

    Takes a job or its id: the row is read fresh here anyway. Outputs are read only for a
    succeeded job, the only state that has any (jobs.attempts.finish).
    """
    fresh = (
        Job.objects.select_related("workflow", "server").defer(*LARGE_RELATED).get(id=getattr(job, "id", job))
    )
    seq = locks.bump_seq(fresh.tab_id)
    outputs = None if fresh.status == JobStatus.SUCCEEDED else []
    return events.job_updated(fresh.tab_id, job_dict(fresh, outputs=outputs), seq, ref)


def release_events(tab_id: Any) -> list[Event]:
    seq = locks.release_if_idle(tab_id)
    return [] if seq is None else [events.lock_updated(tab_id, None, seq)]
