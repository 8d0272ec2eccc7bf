"""One JOB and one lock shape for the API, the snapshot and the events (SPEC §4)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.urls import reverse

from jobs import progress
from jobs.models import Job, Output, Tab


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def output_dict(output: Output) -> dict[str, Any]:
    return {
        "url": reverse("output-file", args=[output.id]),
        "filename": output.filename,
        "width": output.width,
        "height": output.height,
        "kind": output.kind,
    }


def job_dict(job: Job, outputs: Iterable[Output] | None = None) -> dict[str, Any]:
    """The JOB of SPEC §4. Expects `server` and `workflow` to be loadable, and `outputs`
    unless the caller passes them (an empty list when it knows there are none)."""
    return {
        "id": str(job.id),
        "tab": str(job.tab_id),
        "workflow": job.workflow.slug,
        "status": job.status,
        "server": job.server.name if job.server_id else None,
        "attempt": job.attempt,
        "params": job.params,
        "progress": progress.latest(job.id) if job.is_active else None,
        "queue_position": progress.queue_position(job.id) if job.is_active else None,
        "error": job.error,
        "outputs": [output_dict(o) for o in (job.outputs.all() if outputs is None else outputs)],
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
    }


# JSON columns a JOB never shows; decoding them for every job of a snapshot or a state change
# cost more than the rest of the query (a real workflow's graph runs to tens of kilobytes).
LARGE_RELATED = ("workflow__graph", "workflow__params", "server__system_stats", "server__node_classes")


def jobs_queryset():
    return Job.objects.select_related("workflow", "server").defer(*LARGE_RELATED).prefetch_related("outputs")


def lock_dict(tab: Tab) -> dict[str, Any] | None:
    if tab.server_id is None:
        return None
    return {"server": tab.server.name, "since": _iso(tab.locked_at)}
