"""The latest progress of running jobs, kept in memory by the relay (no DB write per frame).

In the embedded default the relay shares the web process, so snapshots include live
progress; with a separate relay process the snapshot shows none until the next frame.
"""

from __future__ import annotations

from typing import Any

_latest: dict[str, dict[str, Any]] = {}
_queue_position: dict[str, int] = {}
_waiting: dict[str, dict[str, Any]] = {}

# Why a pending job cannot start, beside its place in ComfyWeb's queue (JOB `waiting`).
NO_SERVER = {
    "code": "no_server",
    "message": "No ComfyUI server is reachable right now; the job starts as soon as one is.",
}


def snapshot(
    value: float, maximum: float, node: str | None, title: str | None = None, activity: str | None = None
) -> dict[str, Any]:
    """One progress reading, as the JOB and `job.progress` carry it; `activity` "loading"
    while the server loads a model."""
    found: dict[str, Any] = {"value": value, "max": maximum, "node": node, "title": title}
    if activity:
        found["activity"] = activity
    return found


def record(job_id: Any, reading: dict[str, Any]) -> None:
    _latest[str(job_id)] = reading


def latest(job_id: Any) -> dict[str, Any] | None:
    return _latest.get(str(job_id))


def set_queue_position(job_id: Any, position: int | None) -> None:
    if position is None:
        _queue_position.pop(str(job_id), None)
    else:
        _queue_position[str(job_id)] = position


def queue_position(job_id: Any) -> int | None:
    return _queue_position.get(str(job_id))


def set_waiting(job_id: Any, reason: dict[str, Any] | None) -> None:
    if reason is None:
        _waiting.pop(str(job_id), None)
    else:
        _waiting[str(job_id)] = reason


def waiting(job_id: Any) -> dict[str, Any] | None:
    return _waiting.get(str(job_id))


def forget(job_id: Any) -> None:
    _latest.pop(str(job_id), None)
    _queue_position.pop(str(job_id), None)
    _waiting.pop(str(job_id), None)
