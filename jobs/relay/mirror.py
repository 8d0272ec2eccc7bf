"""ComfyUI frames of a raw-graph job, rebuilt for its client's socket (jobs.comfyapi).

A job sent by a ComfyUI client is followed there frame by frame, as the client would see it
on one ComfyUI server (PROTOCOL.md §2): the relay hands each frame of the job to the job's
tab as a `comfy.frame` event (unnumbered, like `job.progress`: SPEC §5). The frames are
rebuilt from the typed events of jobs.comfy, in ComfyUI 0.3.64's shapes, with the job's own
prompt_id (the client's) and file names that point at ComfyWeb's stored copies
(jobs.core.comfy_files).

The end of a job is not mirrored: `execution_success`, the `status` and the final
`executing` with node null are sent by the client's socket once ComfyWeb has stored the
results (the job's `job.updated`), so that a client reading /history on them finds it.
`execution_error` and `execution_interrupted` are mirrored, and held there until then.
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

from jobs.comfy import messages as m
from jobs.core import events
from jobs.core.comfy_files import rewrite_ui


def _now_ms() -> int:
    return int(time.time() * 1000)


def frame_of(event: m.Event, job_id: uuid.UUID) -> dict[str, Any] | None:
    """The ComfyUI frame a client sees for one event of its prompt, or None (not mirrored)."""
    pid = str(job_id)
    if isinstance(event, m.ExecutionStart):
        return {"type": "execution_start", "data": {"prompt_id": pid, "timestamp": _now_ms()}}
    if isinstance(event, m.ExecutionCached):
        data = {"nodes": list(event.nodes), "prompt_id": pid, "timestamp": _now_ms()}
        return {"type": "execution_cached", "data": data}
    if isinstance(event, m.Executing):
        if event.node is None:
            return None  # the end: sent by the client's socket once the job is stored
        node = {"node": event.node, "display_node": event.display_node or event.node, "prompt_id": pid}
        return {"type": "executing", "data": node}
    if isinstance(event, m.Progress):
        data = {"value": event.value, "max": event.max, "prompt_id": pid, "node": event.node}
        return {"type": "progress", "data": data}
    if isinstance(event, m.ProgressState):
        nodes = {
            node_id: {
                "value": state.value,
                "max": state.max,
                "state": state.state,
                "node_id": node_id,
                "prompt_id": pid,
                "display_node_id": state.display_node_id or node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
            }
            for node_id, state in event.nodes.items()
        }
        return {"type": "progress_state", "data": {"prompt_id": pid, "nodes": nodes}}
    if isinstance(event, m.Executed):
        data = {
            "node": event.node,
            "display_node": event.display_node or event.node,
            "output": rewrite_ui(event.output, job_id),
            "prompt_id": pid,
        }
        return {"type": "executed", "data": data}
    if isinstance(event, m.ExecutionError):
        data = {
            "prompt_id": pid,
            "node_id": event.node_id,
            "node_type": event.node_type,
            "executed": [],
            "exception_message": event.exception_message,
            "exception_type": event.exception_type,
            "traceback": list(event.traceback),
            "current_inputs": {},
            "current_outputs": [],
            "timestamp": _now_ms(),
        }
        return {"type": "execution_error", "data": data}
    if isinstance(event, m.ExecutionInterrupted):
        data = {
            "prompt_id": pid,
            "node_id": event.node_id,
            "node_type": event.node_type,
            "executed": [],
            "timestamp": _now_ms(),
        }
        return {"type": "execution_interrupted", "data": data}
    return None


def frame_event(tab_id: uuid.UUID, job_id: uuid.UUID, frame: dict[str, Any]) -> events.Event:
    return events.tab_group(tab_id), {"type": "comfy.frame", "job": str(job_id), "frame": frame}


def preview_event(tab_id: uuid.UUID, job_id: uuid.UUID, event: m.Preview, node: str | None) -> events.Event:
    """A binary preview: the client's socket sends it as type 1 or type 4 (PROTOCOL.md §2)."""
    return events.tab_group(tab_id), {
        "type": "comfy.preview",
        "job": str(job_id),
        "node": event.node_id or node,
        "image_type": event.image_type,
        "image": base64.b64encode(event.image).decode(),
    }
