"""Numbered state changes of a tab (SPEC §5): each returns the event to push after commit."""

from __future__ import annotations

from typing import Any

from jobs import events, locks
from jobs.events import Event
from jobs.models import Job
from jobs.serializers import job_dict, jobs_queryset


def job_event(job: Job, ref: str | None = None) -> Event:
    """The `job.updated` of a change made in the current transaction (numbers it)."""
    seq = locks.bump_seq(job.tab_id)
    fresh = jobs_queryset().get(id=job.id)
    return events.job_updated(job.tab_id, job_dict(fresh), seq, ref)


def release_events(tab_id: Any) -> list[Event]:
    seq = locks.release_if_idle(tab_id)
    return [] if seq is None else [events.lock_updated(tab_id, None, seq)]
