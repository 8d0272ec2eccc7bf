"""The client against what current ComfyUI releases answer (docs/comfyui-versions.md), beside
0.3.64: the Jobs API probe, cancel by id, the usage-source header, missing_node_type, and
progress_state's activity."""

from __future__ import annotations

import json

import httpx
import pytest

from jobs.comfy import ComfyClient, PromptRejected
from jobs.comfy.messages import ProgressState, parse_text
from jobs.relay.misplaced import missing_node
from jobs.relay.tracking import Tracked

BASE = "http://comfy.test:8188"
PID = "6a08e628-99ca-47cd-9c0a-0a4321abf96e"


def client(handler) -> ComfyClient:
    return ComfyClient(BASE, transport=httpx.MockTransport(handler))


async def test_the_jobs_api_is_found_by_its_route_and_0_3_64_has_none():
    def current(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/jobs" and request.url.params["limit"] == "1"
        return httpx.Response(200, json={"jobs": [], "pagination": {"offset": 0, "limit": 1, "total": 0}})

    async with client(current) as comfy:
        assert await comfy.has_jobs_api()
    async with client(lambda request: httpx.Response(404, text="404: Not Found")) as comfy:
        assert not await comfy.has_jobs_api()
    async with client(lambda request: httpx.Response(200, text="<html>a proxy page</html>")) as comfy:
        assert not await comfy.has_jobs_api(), "only the route's own answer counts"


async def test_cancel_by_id_says_whether_something_was_cancelled():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.path))
        return httpx.Response(200, json={"cancelled": request.url.path.startswith(f"/api/jobs/{PID}")})

    async with client(handler) as comfy:
        assert await comfy.cancel_job(PID) is True
        assert await comfy.cancel_job("00000000-0000-4000-8000-000000000000") is False
    assert calls[0] == ("POST", f"/api/jobs/{PID}/cancel")


async def test_every_request_names_comfyweb_as_its_usage_source():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("comfy-usage-source"))
        return httpx.Response(200, json={"system": {"comfyui_version": "0.38.1"}, "devices": []})

    async with client(handler) as comfy:
        await comfy.system_stats()
    assert seen == ["comfyweb"]


async def test_missing_node_type_names_the_class_a_server_lacks():
    body = {
        "error": {
            "type": "missing_node_type",
            "message": "Node 'Fancy' not found. The custom node may not be installed.",
            "details": "Node ID '#2'",
            "extra_info": {"node_id": "2", "class_type": "FancyNode", "node_title": "Fancy"},
        },
        "node_errors": {},
    }
    async with client(lambda request: httpx.Response(400, json=body)) as comfy:
        with pytest.raises(PromptRejected) as refused:
            await comfy.queue_prompt(
                {"2": {"class_type": "FancyNode", "inputs": {}}}, prompt_id=PID, client_id="c"
            )
    assert missing_node(refused.value.error) == "FancyNode"
    old = {"type": "invalid_prompt", "message": "Cannot execute because node FancyNode does not exist."}
    assert missing_node(old) is None, "0.3.64's shape stays the job's own error"


def test_a_loading_activity_in_progress_state_shows_as_loading():
    frame = {
        "type": "progress_state",
        "data": {
            "prompt_id": PID,
            "nodes": {
                "3": {
                    "value": 0,
                    "max": 1,
                    "state": "running",
                    "node_id": "3",
                    "prompt_id": PID,
                    "display_node_id": "3",
                    "parent_node_id": None,
                    "real_node_id": "3",
                    "activity": "loading",
                }
            },
        },
    }
    event = parse_text(json.dumps(frame))
    assert isinstance(event, ProgressState) and event.nodes["3"].activity == "loading"
    import uuid

    tracked = Tracked(uuid.UUID(PID), uuid.uuid4(), 1, 3)
    tracked.apply(event)
    assert tracked.loading


async def test_a_jobs_status_comes_from_queue_and_history_in_one_answer():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/api/jobs/{PID}":
            return httpx.Response(200, json={"id": PID, "status": "in_progress", "outputs_count": 0})
        return httpx.Response(404, json={"error": "Job not found"})

    async with client(handler) as comfy:
        assert await comfy.job_status(PID) == "in_progress"
        assert await comfy.job_status("00000000-0000-4000-8000-000000000000") is None
