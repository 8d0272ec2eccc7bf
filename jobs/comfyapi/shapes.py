"""ComfyUI's JSON shapes for ComfyWeb's jobs: queue items, history entries, Jobs API items.

Read from what ComfyWeb stores, never from a server, so /history and /view answer after
failover and after the server that ran a job is gone (PROTOCOL.md §1 for the shapes;
simulator/jobs_api.py and docs/comfyui-versions.md §2 for the Jobs API).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from jobs.core.comfy_files import ui_key
from jobs.core.models import Job, JobStatus, Output


def _ms(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment else None


def number_of(job: Job) -> int:
    """ComfyUI's `number` (its queue priority): here the job's creation in milliseconds."""
    return _ms(job.created_at) or 0


def queue_item(job: Job) -> list[Any]:
    """[number, prompt_id, prompt, extra_data, outputs_to_execute] (secrets left out)."""
    return [number_of(job), str(job.id), job.graph_to_run, {"client_id": job.client_id}, []]


def ui_outputs(job: Job, outputs: Iterable[Output]) -> dict[str, Any]:
    """The `outputs` of a history entry: the stored results, named as jobs.core.comfy_files says."""
    found: dict[str, dict[str, list[Any]]] = {}
    for output in outputs:
        key = ui_key(output.media)
        node = found.setdefault(output.node_id, {})
        if output.media == "text":
            node.setdefault("text", []).append(output.text)
            continue
        item = {"filename": output.filename, "subfolder": str(job.id), "type": output.kind}
        node.setdefault(key, []).append(item)
        if output.media == "animated":
            node["animated"] = [True]
    return found


def outcome_messages(job: Job) -> list[list[Any]]:
    """`status.messages` of a history entry: start, then success, error or interrupt."""
    pid = str(job.id)
    start = {"prompt_id": pid, "timestamp": _ms(job.started_at or job.created_at)}
    end_ms = _ms(job.finished_at)
    messages: list[list[Any]] = [["execution_start", start], ["execution_cached", {**start, "nodes": []}]]
    if job.status == JobStatus.SUCCEEDED:
        messages.append(["execution_success", {"prompt_id": pid, "timestamp": end_ms}])
    elif job.status == JobStatus.CANCELLED:
        messages.append(["execution_interrupted", {**interrupted_data(job), "timestamp": end_ms}])
    else:
        messages.append(["execution_error", {**error_data(job), "timestamp": end_ms}])
    return messages


def error_data(job: Job) -> dict[str, Any]:
    """An `execution_error`'s data from the job's stored error (the server's frame is gone)."""
    return error_data_of(str(job.id), job.error)


def error_data_of(job_id: str, error: Any) -> dict[str, Any]:
    error = error if isinstance(error, dict) else {}
    return {
        "prompt_id": job_id,
        "node_id": error.get("node"),
        "node_type": None,
        "executed": [],
        "exception_message": str(error.get("message") or "The job failed."),
        "exception_type": str(error.get("code") or "execution_error"),
        "traceback": [],
        "current_inputs": {},
        "current_outputs": [],
    }


def interrupted_data(job: Job) -> dict[str, Any]:
    return interrupted_data_of(str(job.id), job.error)


def interrupted_data_of(job_id: str, error: Any) -> dict[str, Any]:
    error = error if isinstance(error, dict) else {}
    return {"prompt_id": job_id, "node_id": error.get("node"), "node_type": None, "executed": []}


def history_entry(job: Job, outputs: Iterable[Output]) -> dict[str, Any]:
    outputs = list(outputs)
    success = job.status == JobStatus.SUCCEEDED
    meta = {
        node: {"node_id": node, "display_node": node, "parent_node": None, "real_node_id": node}
        for node in {o.node_id for o in outputs}
    }
    return {
        "prompt": queue_item(job),
        "outputs": ui_outputs(job, outputs),
        "status": {
            "status_str": "success" if success else "error",
            "completed": success,
            "messages": outcome_messages(job),
        },
        "meta": meta,
    }


# The Jobs API (ComfyUI's current release): its statuses for ComfyWeb's.
JOBS_STATUS = {
    JobStatus.PENDING: "pending",
    JobStatus.QUEUED: "pending",
    JobStatus.RUNNING: "in_progress",
    JobStatus.SUCCEEDED: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
}


def jobs_item(job: Job, outputs: Iterable[Output], *, whole: bool = False) -> dict[str, Any]:
    outputs = list(outputs)
    files = [o for o in outputs if o.media != "text"]
    status = JOBS_STATUS.get(JobStatus(job.status), "pending")
    item: dict[str, Any] = {
        "id": str(job.id),
        "status": status,
        "priority": number_of(job),
        "create_time": _ms(job.created_at),
        "outputs_count": len(outputs),
        "previewable_outputs_count": len(files),
    }
    if job.started_at:
        item["execution_start_time"] = _ms(job.started_at)
    if job.finished_at:
        item["execution_end_time"] = _ms(job.finished_at)
    if status == "failed":
        item["execution_error"] = error_data(job)
    if files:
        first = files[0]
        item["preview_output"] = {
            "filename": first.filename,
            "subfolder": str(job.id),
            "type": first.kind,
            "nodeId": first.node_id,
            "mediaType": ui_key(first.media),
        }
    if whole:
        item["workflow"] = {"prompt": job.graph_to_run, "extra_data": {"client_id": job.client_id}}
        if not job.is_active:
            item["outputs"] = ui_outputs(job, outputs)
            item["execution_status"] = history_entry(job, outputs)["status"]
    return item
