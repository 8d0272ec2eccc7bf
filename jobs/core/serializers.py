"""One JOB and one lock shape for the API, the snapshot and the events (SPEC §4)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from django.urls import get_script_prefix, reverse

from jobs.core import progress
from jobs.core.models import ACTIVE_STATUSES, RAW_GRAPH, SERVER_LARGE_FIELDS, Job, Output, Tab


def _iso(value) -> str | None:
    return value.isoformat() if value else None


_SENTINEL = "00000000-0000-4000-8000-000000000000"


@functools.lru_cache(maxsize=8)
def _output_url_template(prefix: str) -> tuple[str, str]:
    """The output file's URL around its id, reversed once per script prefix (a JOB with
    outputs is built for every change and snapshot; reverse() is costlier than the rest)."""
    url = reverse("output-file", args=[_SENTINEL])
    head, _, tail = url.partition(_SENTINEL)
    return head, tail


def output_url(output_id: Any) -> str:
    head, tail = _output_url_template(get_script_prefix())
    return f"{head}{output_id}{tail}"


def output_dict(output: Output | Any) -> dict[str, Any]:
    """One result (SPEC §6): `media` says how to show it, the rest are its media's figures.
    Takes an Output or a row with its fields (jobs.core.sql.OutputRow)."""
    shape = {
        "url": output_url(output.id),
        "filename": output.filename,
        "media": output.media,
        "content_type": output.content_type,
        "width": output.width,
        "height": output.height,
        "duration": output.duration,
        "size": output.size,
        "kind": output.kind,
    }
    if output.media == "text":
        shape["text"] = output.text
    return shape


def job_dict(job: Job, outputs: Iterable[Output] | None = None) -> dict[str, Any]:
    """The JOB of SPEC §4. Expects `server` and `workflow` to be loadable, and `outputs`
    unless the caller passes them (an empty list when it knows there are none)."""
    return _job_shape(
        job_id=job.id,
        tab_id=job.tab_id,
        workflow=job.slug,
        status=job.status,
        server=job.server.name if job.server is not None else None,
        attempt=job.attempt,
        params=job.params,
        error=job.error,
        outputs=job.outputs.all() if outputs is None else outputs,
        times=(job.created_at, job.started_at, job.finished_at),
    )


def job_dict_of_values(row: dict[str, Any], outputs: Iterable[Output | Any]) -> dict[str, Any]:
    """The JOB of SPEC §4 from a row of its plain columns (jobs.core.sql.job_row): the event
    of every state change is built from one, without the cost of three model instances."""
    return _job_shape(
        job_id=row["id"],
        tab_id=row["tab_id"],
        workflow=row["workflow__slug"] or RAW_GRAPH,
        status=row["status"],
        server=row["server__name"],
        attempt=row["attempt"],
        params=row["params"],
        error=row["error"],
        outputs=outputs,
        times=(row["created_at"], row["started_at"], row["finished_at"]),
    )


def _job_shape(
    *,
    job_id: Any,
    tab_id: Any,
    workflow: str,
    status: str,
    server: str | None,
    attempt: int,
    params: Any,
    error: Any,
    outputs: Iterable[Output | Any],
    times: tuple[Any, Any, Any],
) -> dict[str, Any]:
    active = status in ACTIVE_STATUSES
    return {
        "id": str(job_id),
        "tab": str(tab_id),
        "workflow": workflow,
        "status": status,
        "server": server,
        "attempt": attempt,
        "params": params,
        "progress": progress.latest(job_id) if active else None,
        "queue_position": progress.queue_position(job_id) if active else None,
        "waiting": progress.waiting(job_id) if status == "pending" else None,
        "error": error,
        "outputs": [output_dict(o) for o in outputs],
        "created_at": _iso(times[0]),
        "started_at": _iso(times[1]),
        "finished_at": _iso(times[2]),
    }


# JSON columns a JOB never shows; decoding them for every job of a snapshot or a state change
# cost more than the rest of the query (a real workflow's graph runs to tens of kilobytes).
LARGE_RELATED = (
    "workflow__graph",
    "workflow__params",
    "workflow__requirements",
    *(f"server__{name}" for name in SERVER_LARGE_FIELDS),
)
# A raw graph's graph and secrets: never part of a JOB (the secrets are never shown at all).
LARGE_OWN = ("graph", "secrets")


def jobs_queryset():
    return (
        Job.objects.select_related("workflow", "server")
        .defer(*LARGE_RELATED, *LARGE_OWN)
        .prefetch_related("outputs")
    )


def lock_dict(tab: Tab) -> dict[str, Any] | None:
    return None if tab.server is None else lock_shape((tab.server.name, tab.locked_at))


def lock_shape(lock: tuple[str, Any] | None) -> dict[str, Any] | None:
    """The lock of SPEC §4 from (server name, locked at) (jobs.core.sql.lock_of)."""
    return None if lock is None else {"server": lock[0], "since": _iso(lock[1])}
