"""The Jobs API of the ``current`` profile, and the log of calls only that profile answers.

Routes (server.py 002c3fb9, comfy_execution/jobs.py 172be438; docs/comfyui-versions.md §2, §3),
declared as "/api/jobs..." and then prefixed again, so they answer under /api/jobs and
/api/api/jobs but never under an unprefixed /jobs:

- GET /api/jobs?status=&workflow_id=&sort_by=&sort_order=&limit=&offset=
- GET /api/jobs/{job_id}
- POST /api/jobs/{job_id}/cancel -> 200 {"cancelled": bool}, never an error
- POST /api/jobs/cancel {"job_ids": [...]} -> 200 {"cancelled": bool}, or 400 for a malformed id

The cancel is race-free as in ComfyUI (PromptQueue.interrupt_if_running): the interrupt is set
only if that id is still running, and a prompt clears the flag when it starts.

``record_calls`` logs every request to one of these paths, on either profile and whatever it
was answered, so a client's tests can see which API it used: GET /_sim/calls returns
{"profile", "calls": [{"method", "path", "route", "status"}], "counts": {route: n}}, and
POST /_sim/calls clears it (so does POST /_sim/reset).
"""

from __future__ import annotations

import copy
import re
import uuid
from collections import Counter
from typing import Any

from aiohttp import web

from simulator.state import Simulator

PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED = (
    "pending",
    "in_progress",
    "completed",
    "failed",
    "cancelled",
)
ALL_STATUSES = [PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED]
PREVIEWABLE = frozenset({"images", "video", "audio", "3d", "text"})
THREE_D = (".obj", ".fbx", ".gltf", ".glb", ".usdz")
TEXT_FILES = (".txt", ".md", ".json")

# (method, path pattern, route name) of the calls only the current profile answers.
_ROUTES = [
    ("GET", re.compile(r"^(?:/api)?/api/jobs$"), "GET /api/jobs"),
    ("POST", re.compile(r"^(?:/api)?/api/jobs/cancel$"), "POST /api/jobs/cancel"),
    ("GET", re.compile(r"^(?:/api)?/api/jobs/[^/]+$"), "GET /api/jobs/{job_id}"),
    ("POST", re.compile(r"^(?:/api)?/api/jobs/[^/]+/cancel$"), "POST /api/jobs/{job_id}/cancel"),
]


def current_only_route(method: str, path: str) -> str | None:
    for route_method, pattern, name in _ROUTES:
        if method == route_method and pattern.match(path):
            return name
    return None


def validate_job_id(value: Any) -> str:
    """comfy_execution/jobs.py validate_job_id: canonical lowercase hyphenated UUID strings only."""
    if not isinstance(value, str):
        raise ValueError(f"job id must be a string, got {type(value).__name__}")
    if str(uuid.UUID(value)) != value:
        raise ValueError("job id must be a UUID in canonical lowercase hyphenated form")
    return value


def record_calls(sim: Simulator) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        route = current_only_route(request.method, request.path)
        if route is None:
            return await handler(request)
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as ex:
            status = ex.status
            raise
        finally:
            sim.calls.append(
                {"method": request.method, "path": request.path, "route": route, "status": status}
            )

    return middleware


def _prune(job: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in job.items() if value is not None}


def _metadata(extra_data: dict[str, Any]) -> tuple[Any, Any]:
    pnginfo = extra_data.get("extra_pnginfo", {})
    workflow = pnginfo.get("workflow", {}) if isinstance(pnginfo, dict) else {}
    return extra_data.get("create_time"), workflow.get("id") if isinstance(workflow, dict) else None


def normalize_queue_item(item: Any, status: str, include_workflow: bool = False) -> dict[str, Any]:
    priority, prompt_id, prompt, extra_data, _ = item[:5]
    create_time, workflow_id = _metadata(extra_data)
    job = _prune(
        {
            "id": prompt_id,
            "status": status,
            "priority": priority,
            "create_time": create_time,
            "outputs_count": 0,
            "previewable_outputs_count": 0,
            "workflow_id": workflow_id,
        }
    )
    if include_workflow:
        job["workflow"] = {"prompt": prompt, "extra_data": extra_data}
    return job


def _is_previewable(media_type: str, item: dict[str, Any]) -> bool:
    if media_type in PREVIEWABLE:
        return True
    fmt = item.get("format", "")
    if fmt and (fmt.startswith("video/") or fmt.startswith("audio/")):
        return True
    filename = str(item.get("filename", "")).lower()
    return filename.endswith(THREE_D) or filename.endswith(TEXT_FILES)


def _is_text(media_type: str, item: dict[str, Any]) -> bool:
    return media_type == "text" or str(item.get("filename", "")).lower().endswith(TEXT_FILES)


def _normalize_item(item: Any) -> Any:
    if isinstance(item, str):
        if not item.lower().endswith(THREE_D):
            return None
        return {"filename": item, "type": "output", "subfolder": "", "mediaType": "3d"}
    return item if isinstance(item, dict) else None


def _outputs_summary(outputs: dict[str, Any]) -> tuple[int, int, dict[str, Any] | None]:
    """(outputs_count, previewable_outputs_count, preview_output), as get_outputs_summary and
    count_previewable_outputs."""
    count = previewable = 0
    preview = fallback = text_file = text = None
    for node_id, node_outputs in outputs.items():
        if not isinstance(node_outputs, dict):
            continue
        for media_type, items in node_outputs.items():
            if media_type == "animated" or not isinstance(items, list):
                continue
            for item in items:
                if not isinstance(item, dict):
                    normalized = _normalize_item(item)
                    if normalized is None:
                        if media_type == "text" and preview is None and text is None:
                            value = (item[0] if item else "") if isinstance(item, tuple | list) else str(item)
                            content: dict[str, Any] = {"content": value[:1024]}
                            if len(value) > 1024:
                                content["truncated"] = True
                            text = {**content, "nodeId": node_id, "mediaType": media_type}
                        continue
                    item = normalized
                count += 1
                if _is_previewable(media_type, item):
                    previewable += 1
                if preview is not None or not _is_previewable(media_type, item):
                    continue
                enriched = {**item, "nodeId": node_id}
                if "mediaType" not in item:
                    enriched["mediaType"] = media_type
                if _is_text(media_type, item):
                    text_file = text_file or enriched
                elif item.get("type") == "output":
                    preview = enriched
                elif fallback is None:
                    fallback = enriched
    return count, previewable, preview or fallback or text_file or text


def _normalize_outputs(outputs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for node_id, node_outputs in outputs.items():
        if not isinstance(node_outputs, dict):
            out[node_id] = node_outputs
            continue
        node: dict[str, Any] = {}
        for media_type, items in node_outputs.items():
            if media_type == "animated" or not isinstance(items, list):
                node[media_type] = items
                continue
            node[media_type] = [_normalize_item(item) or item for item in items if item is not None]
        out[node_id] = node
    return out


def normalize_history_item(
    prompt_id: str, entry: dict[str, Any], include_outputs: bool = False
) -> dict[str, Any]:
    priority, _, prompt, extra_data, _ = entry["prompt"][:5]
    create_time, workflow_id = _metadata(extra_data)
    status_info = entry.get("status") or {}
    status_str = status_info.get("status_str")
    outputs = entry.get("outputs", {})
    count, previewable, preview = _outputs_summary(outputs)
    error = start = end = None
    interrupted = False
    for message in status_info.get("messages", []):
        if isinstance(message, list | tuple) and len(message) >= 2 and isinstance(message[1], dict):
            event, data = message[0], message[1]
            if event == "execution_start":
                start = data.get("timestamp")
            elif event in ("execution_success", "execution_error", "execution_interrupted"):
                end = data.get("timestamp")
                if event == "execution_error":
                    error = data
                elif event == "execution_interrupted":
                    interrupted = True
    status = (CANCELLED if interrupted else FAILED) if status_str == "error" else COMPLETED
    job = _prune(
        {
            "id": prompt_id,
            "status": status,
            "priority": priority,
            "create_time": create_time,
            "execution_start_time": start,
            "execution_end_time": end,
            "execution_error": error,
            "outputs_count": count,
            "previewable_outputs_count": previewable,
            "preview_output": preview,
            "workflow_id": workflow_id,
        }
    )
    if include_outputs:
        job["outputs"] = _normalize_outputs(outputs)
        job["execution_status"] = status_info
        job["workflow"] = {"prompt": prompt, "extra_data": extra_data}
    return job


def _sort_key(sort_by: str) -> Any:
    if sort_by == "execution_duration":

        def duration(job: dict[str, Any]) -> Any:
            start, end = job.get("execution_start_time", 0), job.get("execution_end_time", 0)
            return end - start if end and start else 0

        return duration
    return lambda job: job.get("create_time", 0)


def _error(message: str, status: int = 400, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def add_routes(app: web.Application, sim: Simulator) -> None:
    queue = sim.queue

    def snapshot() -> tuple[list[Any], list[Any]]:
        running, pending = queue.current()  # already item[:5]: the secrets stay out
        return copy.deepcopy(running), copy.deepcopy(pending)

    async def get_jobs(request: web.Request) -> web.Response:
        query = request.rel_url.query
        sort_by = query.get("sort_by", "created_at").lower()
        sort_order = query.get("sort_order", "desc").lower()
        statuses = list(ALL_STATUSES)
        if query.get("status"):
            statuses = [s.strip().lower() for s in query["status"].split(",") if s.strip()]
            invalid = [s for s in statuses if s not in ALL_STATUSES]
            if invalid:
                return _error(
                    f"Invalid status value(s): {', '.join(invalid)}. Valid values: {', '.join(ALL_STATUSES)}"
                )
        if sort_by not in ("created_at", "execution_duration"):
            return _error("sort_by must be 'created_at' or 'execution_duration'")
        if sort_order not in ("asc", "desc"):
            return _error("sort_order must be 'asc' or 'desc'")
        limit = None
        if "limit" in query:
            try:
                limit = int(query["limit"])
            except ValueError:
                return _error("limit must be an integer")
            if limit <= 0:
                return _error("limit must be a positive integer")
        offset = 0
        if "offset" in query:
            try:
                offset = max(0, int(query["offset"]))
            except ValueError:
                return _error("offset must be an integer")
        running, pending = snapshot()
        jobs: list[dict[str, Any]] = []
        if IN_PROGRESS in statuses:
            jobs += [normalize_queue_item(item, IN_PROGRESS) for item in running]
        if PENDING in statuses:
            jobs += [normalize_queue_item(item, PENDING) for item in pending]
        finished = {COMPLETED, FAILED, CANCELLED} & set(statuses)
        if finished:
            for prompt_id, entry in queue.get_history().items():
                job = normalize_history_item(prompt_id, entry)
                if job["status"] in finished:
                    jobs.append(job)
        workflow_id = query.get("workflow_id")
        if workflow_id:
            jobs = [job for job in jobs if job.get("workflow_id") == workflow_id]
        jobs = sorted(jobs, key=_sort_key(sort_by), reverse=sort_order == "desc")
        total = len(jobs)
        if offset > 0:
            jobs = jobs[offset:]
        if limit is not None:
            jobs = jobs[:limit]
        pagination = {
            "offset": offset,
            "limit": limit,
            "total": total,
            "has_more": offset + len(jobs) < total,
        }
        return web.json_response({"jobs": jobs, "pagination": pagination})

    async def get_job(request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        history = queue.get_history(prompt_id=job_id)
        if job_id in history:
            return web.json_response(normalize_history_item(job_id, history[job_id], include_outputs=True))
        running, pending = snapshot()
        for items, status in ((running, IN_PROGRESS), (pending, PENDING)):
            for item in items:
                if item[1] == job_id:
                    return web.json_response(normalize_queue_item(item, status, include_workflow=True))
        return _error("Job not found", status=404)

    def interrupt_if_running(prompt_id: str) -> bool:
        # execution.py PromptQueue.interrupt_if_running: check and interrupt with no await in
        # between (the mutex of the real queue); the next prompt clears the flag as it starts.
        if any(item[1] == prompt_id for item in queue.running.values()):
            sim.executor.interrupt()
            return True
        return False

    async def cancel_one(job_id: str) -> bool:
        """server.py _cancel_job_by_id / jobs.py cancel_job: True when a cancel was dispatched."""
        if any(item[1] == job_id for item in queue.running.values()):
            return interrupt_if_running(job_id)
        if any(item[1] == job_id for item in queue.queue):
            if await queue.delete(job_id):
                return True
            return interrupt_if_running(job_id)
        return False  # finished (in the history) or unknown: a no-op

    async def cancel_job(request: web.Request) -> web.Response:
        return web.json_response({"cancelled": await cancel_one(request.match_info["job_id"])})

    async def cancel_jobs(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error("Request body must be valid JSON")
        job_ids = body.get("job_ids") if isinstance(body, dict) else None
        if not isinstance(job_ids, list):
            return _error("job_ids must be a list")
        invalid = []
        for job_id in job_ids:
            try:
                validate_job_id(job_id)
            except (ValueError, AttributeError, TypeError):
                invalid.append(job_id if isinstance(job_id, str) else repr(job_id))
        if invalid:
            return _error("job_ids contains invalid id(s)", invalid_ids=invalid)
        cancelled = False
        for job_id in job_ids:
            if await cancel_one(job_id):
                cancelled = True
        return web.json_response({"cancelled": cancelled})

    # Declared under /api and prefixed once more by server.py's add_routes, as in ComfyUI.
    for prefix in ("/api", "/api/api"):
        app.router.add_get(prefix + "/jobs", get_jobs)
        app.router.add_get(prefix + "/jobs/{job_id}", get_job)
        app.router.add_post(prefix + "/jobs/{job_id}/cancel", cancel_job)
        app.router.add_post(prefix + "/jobs/cancel", cancel_jobs)


def add_sim_routes(app: web.Application, sim: Simulator) -> None:
    async def get_calls(request: web.Request) -> web.Response:
        counts = Counter(call["route"] for call in sim.calls)
        return web.json_response({"profile": sim.profile.name, "calls": sim.calls, "counts": dict(counts)})

    async def clear_calls(request: web.Request) -> web.Response:
        sim.calls.clear()
        return web.json_response({"profile": sim.profile.name, "calls": [], "counts": {}})

    app.router.add_get("/_sim/calls", get_calls)
    app.router.add_post("/_sim/calls", clear_calls)
