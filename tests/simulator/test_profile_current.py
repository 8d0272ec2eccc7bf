"""The simulator's ``current`` profile: one test per confirmed row of docs/comfyui-versions.md,
with the wire shapes given there, plus the 0.3.64 profile's answers where they differ (the
0.3.64 profile itself is held to the traces by test_trace_replay.py) and --profile parsing."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from simulator.__main__ import parse_args
from simulator.profiles import CURRENT, PROFILE_0364
from simulator.testing import running_simulator
from tests.simulator.test_simulator import Api, gradient_png, invert_graph, slow_graph


@pytest.fixture
async def cur() -> AsyncIterator[Api]:
    async with running_simulator(profile="current") as sim, aiohttp.ClientSession() as session:
        yield Api(sim, session)


@pytest.fixture
async def old() -> AsyncIterator[Api]:
    async with running_simulator() as sim, aiohttp.ClientSession() as session:
        yield Api(sim, session)


async def upload(api: Api) -> str:
    status, body = await api.upload(gradient_png(), "gradient.png")
    assert status == 200
    name: str = body["name"]
    return name


async def wait_running(api: Api, prompt_id: str, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while (await api.call("GET", "/_sim/state"))[1]["running"] != prompt_id:
            await asyncio.sleep(0.005)


# --- CLI and profile switch ------------------------------------------------------------------


def test_profile_flag_defaults_to_0364_and_takes_current() -> None:
    assert parse_args([]).profile == "0.3.64"
    assert parse_args(["--profile", "current"]).profile == "current"
    assert parse_args(["--profile", "0.3.64", "--port", "0"]).profile == "0.3.64"


def test_profile_flag_rejects_unknown_names(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--profile", "0.4"])
    assert "invalid choice" in capsys.readouterr().err


def test_every_difference_lives_in_the_profile() -> None:
    differing = {
        f.name
        for f in dataclasses.fields(PROFILE_0364)
        if getattr(PROFILE_0364, f.name) != getattr(CURRENT, f.name)
    }
    assert differing == {f.name for f in dataclasses.fields(PROFILE_0364)} - {"intermediate_output_nodes"}


# --- §9 /system_stats and /object_info --------------------------------------------------------


async def test_system_stats_reports_0381_linux_and_the_new_keys(cur: Api, old: Api) -> None:
    _, body = await cur.call("GET", "/system_stats")
    system = body["system"]
    assert system["comfyui_version"] == "0.38.1"
    assert system["os"] == "linux"
    assert list(system) == [
        "os",
        "ram_total",
        "ram_free",
        "comfyui_version",
        "required_frontend_version",
        "installed_templates_version",
        "required_templates_version",
        "comfy_package_versions",
        "python_version",
        "pytorch_version",
        "embedded_python",
        "deploy_environment",
        "argv",
    ]
    assert all(set(p) == {"name", "installed", "required"} for p in system["comfy_package_versions"])
    assert system["deploy_environment"] == "local-git"
    assert body["devices"][0]["type"] == "cpu"
    _, before = await old.call("GET", "/system_stats")
    assert before["system"]["comfyui_version"] == "0.3.64"
    assert before["system"]["os"] == "posix"
    assert "deploy_environment" not in before["system"]


async def test_object_info_entries_gain_the_new_keys(cur: Api, old: Api) -> None:
    _, body = await cur.call("GET", "/object_info/SaveImage")
    entry = body["SaveImage"]
    assert entry["is_input_list"] is False
    assert entry["has_intermediate_output"] is False
    assert entry["search_aliases"] == []
    keys = list(entry)
    assert keys.index("is_input_list") == keys.index("input_order") + 1
    assert keys.index("has_intermediate_output") == keys.index("output_node") + 1
    _, before = await old.call("GET", "/object_info/SaveImage")
    assert {
        k: v
        for k, v in entry.items()
        if k not in ("is_input_list", "has_intermediate_output", "search_aliases")
    } == before["SaveImage"]


# --- §1 prompt_id -----------------------------------------------------------------------------

SAMPLE = uuid.UUID("0123abcd-4567-89ef-0123-456789abcdef")

INVALID_PROMPT_ID = {
    "error": {
        "type": "invalid_prompt_id",
        "message": "prompt_id must be a valid UUID",
        "details": "prompt_id must be a UUID string in canonical lowercase hyphenated form; "
        "omit it to let the server generate one",
        "extra_info": {},
    },
    "node_errors": {},
}


@pytest.mark.parametrize(
    "bad",
    [
        "not-a-uuid",
        str(SAMPLE).upper(),
        SAMPLE.hex,
        "{" + str(SAMPLE) + "}",
        "urn:uuid:" + str(SAMPLE),
        12,
        ["x"],
    ],
)
async def test_non_canonical_prompt_id_is_a_400_before_validation(cur: Api, bad: Any) -> None:
    # The graph is invalid too, but the id check comes first: its error is the only one.
    status, body = await cur.call(
        "POST", "/prompt", json={"prompt": {"1": {"class_type": "Nope"}}, "prompt_id": bad}
    )
    assert (status, body) == (400, INVALID_PROMPT_ID)


async def test_absent_or_null_prompt_id_is_minted_and_canonical_is_kept(cur: Api, old: Api) -> None:
    await upload(cur)
    for body in (
        {"prompt": invert_graph("gradient.png")},
        {"prompt": invert_graph("gradient.png"), "prompt_id": None},
    ):
        status, answer = await cur.call("POST", "/prompt", json=body)
        assert status == 200
        assert str(uuid.UUID(answer["prompt_id"])) == answer["prompt_id"]
    mine = str(uuid.uuid4())
    assert (await cur.queue(invert_graph("gradient.png"), prompt_id=mine))[1]["prompt_id"] == mine
    # 0.3.64 took any string, and turned null into "None".
    await upload(old)
    assert (await old.queue(invert_graph("gradient.png"), prompt_id="job-1"))[1]["prompt_id"] == "job-1"
    assert (await old.queue(invert_graph("gradient.png"), prompt_id=None))[1]["prompt_id"] == "None"


# --- §2 Jobs API ------------------------------------------------------------------------------


async def test_jobs_list_shapes_for_running_pending_and_finished(cur: Api) -> None:
    image = await upload(cur)
    _, done = await cur.queue(invert_graph(image), extra_data={"extra_pnginfo": {"workflow": {"id": "wf-1"}}})
    await cur.history(done["prompt_id"])
    await asyncio.sleep(0.002)  # create_time is in ms: keep the three apart
    _, running = await cur.queue(slow_graph(image, steps=100, seconds=0.02))
    await wait_running(cur, running["prompt_id"])
    await asyncio.sleep(0.002)
    _, pending = await cur.queue(slow_graph(image, steps=1))
    status, body = await cur.call("GET", "/api/jobs")
    assert status == 200
    assert body["pagination"] == {"offset": 0, "limit": None, "total": 3, "has_more": False}
    jobs = {job["id"]: job for job in body["jobs"]}
    assert [job["id"] for job in body["jobs"]] == [
        pending["prompt_id"],
        running["prompt_id"],
        done["prompt_id"],
    ]
    assert set(jobs[running["prompt_id"]]) == {
        "id",
        "status",
        "priority",
        "create_time",
        "outputs_count",
        "previewable_outputs_count",
    }
    assert jobs[running["prompt_id"]]["status"] == "in_progress"
    assert jobs[pending["prompt_id"]]["status"] == "pending"
    finished = jobs[done["prompt_id"]]
    assert finished["status"] == "completed"
    assert finished["workflow_id"] == "wf-1"
    assert finished["priority"] == done["number"]
    assert (finished["outputs_count"], finished["previewable_outputs_count"]) == (1, 1)
    assert finished["preview_output"]["nodeId"] == "3"
    assert finished["preview_output"]["mediaType"] == "images"
    assert finished["preview_output"]["type"] == "output"
    assert finished["execution_start_time"] <= finished["execution_end_time"]
    assert "execution_error" not in finished  # prune_dict drops the None
    assert (await cur.call("POST", f"/api/jobs/{running['prompt_id']}/cancel"))[1] == {"cancelled": True}


async def test_jobs_filters_sort_and_pagination(cur: Api) -> None:
    image = await upload(cur)
    ids = []
    for prefix in ("a", "b", "c"):
        _, body = await cur.queue(
            invert_graph(image, prefix=prefix),
            extra_data={"extra_pnginfo": {"workflow": {"id": f"wf-{prefix}"}}},
        )
        await cur.history(body["prompt_id"])
        ids.append(body["prompt_id"])
        await asyncio.sleep(0.002)  # distinct create_time
    _, page = await cur.call("GET", "/api/jobs?limit=2&offset=1")
    assert [job["id"] for job in page["jobs"]] == [ids[1], ids[0]]
    assert page["pagination"] == {"offset": 1, "limit": 2, "total": 3, "has_more": False}
    _, first = await cur.call("GET", "/api/jobs?limit=1&sort_order=ASC")
    assert [job["id"] for job in first["jobs"]] == [ids[0]]
    assert first["pagination"]["has_more"] is True
    _, clamped = await cur.call("GET", "/api/jobs?offset=-5&sort_by=execution_duration")
    assert clamped["pagination"]["offset"] == 0 and clamped["pagination"]["total"] == 3
    _, one = await cur.call("GET", "/api/jobs?workflow_id=wf-b")
    assert [job["id"] for job in one["jobs"]] == [ids[1]]
    _, none = await cur.call("GET", "/api/jobs?status=pending,IN_PROGRESS")
    assert none["jobs"] == [] and none["pagination"]["total"] == 0
    _, done = await cur.call("GET", "/api/jobs?status=completed")
    assert done["pagination"]["total"] == 3


@pytest.mark.parametrize(
    ("query", "error"),
    [
        (
            "status=done",
            "Invalid status value(s): done. Valid values: pending, in_progress, completed, failed, cancelled",
        ),
        ("sort_by=name", "sort_by must be 'created_at' or 'execution_duration'"),
        ("sort_order=up", "sort_order must be 'asc' or 'desc'"),
        ("limit=0", "limit must be a positive integer"),
        ("limit=x", "limit must be an integer"),
        ("offset=x", "offset must be an integer"),
    ],
)
async def test_jobs_list_rejects_bad_parameters_with_a_string_error(cur: Api, query: str, error: str) -> None:
    assert await cur.call("GET", f"/api/jobs?{query}") == (400, {"error": error})


async def test_jobs_routes_exist_only_under_api(cur: Api, old: Api) -> None:
    assert (await cur.call("GET", "/api/api/jobs"))[0] == 200
    assert (await cur.call("GET", "/jobs"))[0] == 404
    assert (await cur.call("POST", "/jobs/cancel", json={"job_ids": []}))[0] == 404
    status, body = await old.call("GET", "/api/jobs?limit=1")
    assert status == 404 and not isinstance(body, dict)  # the 0.3.64 probe answer
    assert (await old.call("POST", f"/api/jobs/{uuid.uuid4()}/cancel"))[0] == 404


async def test_job_detail_finished_pending_and_unknown(cur: Api) -> None:
    image = await upload(cur)
    _, done = await cur.queue(invert_graph(image))
    await cur.history(done["prompt_id"])
    status, job = await cur.call("GET", f"/api/jobs/{done['prompt_id']}")
    assert status == 200
    assert job["status"] == "completed"
    assert list(job["outputs"]) == ["3"]
    assert job["outputs"]["3"]["images"][0]["filename"].startswith("invert_")
    assert job["execution_status"]["status_str"] == "success"
    assert set(job["workflow"]) == {"prompt", "extra_data"}
    assert job["workflow"]["prompt"]["3"]["class_type"] == "SaveImage"
    _, running = await cur.queue(slow_graph(image, steps=100, seconds=0.02))
    await wait_running(cur, running["prompt_id"])
    _, pending = await cur.queue(slow_graph(image, steps=1))
    _, queued = await cur.call("GET", f"/api/jobs/{pending['prompt_id']}")
    assert queued["status"] == "pending" and "workflow" in queued and "outputs" not in queued
    _, now = await cur.call("GET", f"/api/jobs/{running['prompt_id']}")
    assert now["status"] == "in_progress"
    assert await cur.call("GET", f"/api/jobs/{uuid.uuid4()}") == (404, {"error": "Job not found"})
    assert await cur.call("GET", "/api/jobs/not-a-uuid") == (404, {"error": "Job not found"})
    await cur.call("POST", "/api/jobs/cancel", json={"job_ids": [running["prompt_id"], pending["prompt_id"]]})


# --- §3 cancel by id --------------------------------------------------------------------------


async def test_cancel_running_job_interrupts_it_and_is_idempotent(cur: Api) -> None:
    image = await upload(cur)
    sock = await cur.socket("c1")
    _, running = await cur.queue(slow_graph(image), client_id="c1")
    await sock.wait_for(lambda f: f["type"] == "progress")
    assert await cur.call("POST", f"/api/jobs/{running['prompt_id']}/cancel") == (200, {"cancelled": True})
    await sock.wait_done(running["prompt_id"])
    assert sock.types()[-3:] == ["execution_interrupted", "status", "executing"]
    assert await cur.call("POST", f"/api/jobs/{running['prompt_id']}/cancel") == (200, {"cancelled": False})
    _, job = await cur.call("GET", f"/api/jobs/{running['prompt_id']}")
    assert job["status"] == "cancelled"
    assert job["execution_status"]["status_str"] == "error"
    await sock.close()


async def test_cancel_pending_job_dequeues_it_and_it_is_then_unknown(cur: Api) -> None:
    image = await upload(cur)
    _, running = await cur.queue(slow_graph(image, steps=100, seconds=0.02))
    await wait_running(cur, running["prompt_id"])
    _, pending = await cur.queue(slow_graph(image, steps=1))
    assert await cur.call("POST", f"/api/jobs/{pending['prompt_id']}/cancel") == (200, {"cancelled": True})
    _, queue = await cur.call("GET", "/queue")
    assert queue["queue_pending"] == []
    assert (await cur.call("GET", f"/api/jobs/{pending['prompt_id']}"))[0] == 404
    # The running job was not touched by the dequeue.
    _, state = await cur.call("GET", "/_sim/state")
    assert state["running"] == running["prompt_id"]
    await cur.call("POST", f"/api/jobs/{running['prompt_id']}/cancel")


async def test_cancel_finished_unknown_and_malformed_ids_is_a_no_op(cur: Api) -> None:
    image = await upload(cur)
    _, done = await cur.queue(invert_graph(image))
    await cur.history(done["prompt_id"])
    for job_id in (done["prompt_id"], str(uuid.uuid4()), "not-a-uuid"):
        assert await cur.call("POST", f"/api/jobs/{job_id}/cancel") == (200, {"cancelled": False})


async def test_cancel_of_a_finished_job_never_lands_on_the_next_one(cur: Api) -> None:
    image = await upload(cur)
    _, first = await cur.queue(invert_graph(image))
    _, second = await cur.queue(slow_graph(image, steps=10, seconds=0.01))
    await cur.history(first["prompt_id"])
    await wait_running(cur, second["prompt_id"])
    assert await cur.call("POST", f"/api/jobs/{first['prompt_id']}/cancel") == (200, {"cancelled": False})
    assert (await cur.history(second["prompt_id"]))["status"]["status_str"] == "success"


async def test_batch_cancel_checks_every_id_first_then_is_best_effort(cur: Api) -> None:
    image = await upload(cur)
    _, running = await cur.queue(slow_graph(image, steps=100, seconds=0.02))
    await wait_running(cur, running["prompt_id"])
    _, pending = await cur.queue(slow_graph(image, steps=1))
    assert await cur.call("POST", "/api/jobs/cancel", data=b"{nope") == (
        400,
        {"error": "Request body must be valid JSON"},
    )
    for body in ({}, {"job_ids": "x"}, [1]):
        assert await cur.call("POST", "/api/jobs/cancel", json=body) == (
            400,
            {"error": "job_ids must be a list"},
        )
    upper = pending["prompt_id"].upper()
    assert await cur.call("POST", "/api/jobs/cancel", json={"job_ids": [pending["prompt_id"], upper, 5]}) == (
        400,
        {"error": "job_ids contains invalid id(s)", "invalid_ids": [upper, "5"]},
    )
    _, queue = await cur.call("GET", "/queue")
    assert [item[1] for item in queue["queue_pending"]] == [pending["prompt_id"]]  # nothing cancelled
    assert await cur.call("POST", "/api/jobs/cancel", json={"job_ids": [str(uuid.uuid4())]}) == (
        200,
        {"cancelled": False},
    )
    ids = [str(uuid.uuid4()), pending["prompt_id"], running["prompt_id"]]
    assert await cur.call("POST", "/api/jobs/cancel", json={"job_ids": ids}) == (200, {"cancelled": True})
    assert (await cur.history(running["prompt_id"]))["status"]["messages"][-1][0] == "execution_interrupted"
    assert (await cur.call("GET", "/queue"))[1]["queue_pending"] == []


# --- §4 missing_node_type, dependency_cycle ---------------------------------------------------


async def test_unknown_class_type_is_missing_node_type(cur: Api, old: Api) -> None:
    prompt = {
        "1": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
        "2": {"class_type": "FancyNode", "inputs": {}, "_meta": {"title": "My Fancy"}},
        "3": {"class_type": "OtherMissing", "inputs": {}},
    }
    assert await cur.queue(prompt) == (
        400,
        {
            "error": {
                "type": "missing_node_type",
                "message": "Node 'My Fancy' not found. The custom node may not be installed.",
                "details": "Node ID '#2'",
                "extra_info": {"node_id": "2", "class_type": "FancyNode", "node_title": "My Fancy"},
            },
            "node_errors": {},
        },
    )
    _, untitled = await cur.queue({"7": {"class_type": "Gone", "inputs": {}}})
    assert untitled["error"]["message"] == "Node 'Gone' not found. The custom node may not be installed."
    assert untitled["error"]["extra_info"]["node_title"] == "Gone"
    assert await old.queue(prompt) == (
        400,
        {
            "error": {
                "type": "invalid_prompt",
                "message": "Cannot execute because node FancyNode does not exist.",
                "details": "Node ID '#2'",
                "extra_info": {},
            },
            "node_errors": {},
        },
    )


async def test_node_without_class_type_is_missing_node_type(cur: Api) -> None:
    _, body = await cur.queue({"4": {"inputs": {}}})
    assert body["error"] == {
        "type": "missing_node_type",
        "message": "Node 'ID #4' has no class_type. "
        "The workflow may be corrupted or a custom node is missing.",
        "details": "Node ID '#4'",
        "extra_info": {"node_id": "4", "class_type": None, "node_title": None},
    }
    _, titled = await cur.queue({"4": {"inputs": {}, "_meta": {"title": "Lost"}}})
    assert titled["error"]["message"].startswith("Node 'Lost' has no class_type.")


async def test_a_cycle_marks_every_node_on_it_with_dependency_cycle(cur: Api) -> None:
    prompt = {
        "1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }
    status, body = await cur.queue(prompt)
    assert status == 400
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    assert sorted(body["node_errors"]) == ["1", "2"]
    for node_id in ("1", "2"):
        entry = body["node_errors"][node_id]
        assert entry["class_type"] == "ImageInvert"
        assert entry["dependent_outputs"] == ["3"]
        assert entry["errors"] == [
            {
                "type": "dependency_cycle",
                "message": "Dependency cycle detected",
                "details": "1 (ImageInvert) -> 2 (ImageInvert) -> 1 (ImageInvert)",
                "extra_info": {"node_id": node_id, "cycle_nodes": ["1", "2"]},
            }
        ]


# --- §6 assets --------------------------------------------------------------------------------


async def test_upload_answers_an_asset_block(cur: Api, old: Api) -> None:
    status, body = await cur.upload(gradient_png(), "gradient.png", subfolder="sub")
    assert status == 200
    assert (body["name"], body["subfolder"], body["type"]) == ("gradient.png", "sub", "input")
    asset = body["asset"]
    assert set(asset) == {"id", "name", "asset_hash", "size", "mime_type", "tags"}
    assert str(uuid.UUID(asset["id"])) == asset["id"]
    assert asset["name"] == "gradient.png"
    assert asset["asset_hash"].startswith("blake3:") and len(asset["asset_hash"]) == len("blake3:") + 64
    assert (asset["size"], asset["mime_type"]) == (len(gradient_png()), "image/png")
    assert "input" in asset["tags"]
    assert "asset" not in (await old.upload(gradient_png(), "gradient.png"))[1]


async def test_outputs_carry_asset_ids_and_metadata_fresh_on_a_cached_replay(cur: Api) -> None:
    image = await upload(cur)
    sock = await cur.socket("c1")
    ids = []
    for _ in range(2):  # the second run is fully cached
        _, body = await cur.queue(invert_graph(image), client_id="c1")
        await sock.wait_done(body["prompt_id"])
        executed = [
            f for f in sock.frames if f["type"] == "executed" and f["data"]["prompt_id"] == body["prompt_id"]
        ]
        assert len(executed) == 1
        item = executed[0]["data"]["output"]["images"][0]
        assert item["id"] == item["preview_id"]
        assert item["metadata"] == {"width": 8, "height": 8}
        history = await cur.history(body["prompt_id"])
        assert history["outputs"]["3"]["images"][0] == item
        ids.append(item["id"])
    assert ids[0] != ids[1]
    await sock.close()


async def test_object_info_starts_a_scan_that_broadcasts_assets_seed_frames(cur: Api, old: Api) -> None:
    await upload(cur)
    named, anonymous = await cur.socket("c1"), await cur.socket()
    await cur.call("GET", "/object_info")
    for sock in (named, anonymous):
        await sock.wait_for(lambda f: f["type"] == "assets.seed.completed")
        seed = [f for f in sock.frames if f["type"].startswith("assets.")]
        assert [f["type"] for f in seed] == ["assets.seed.started", "assets.seed.completed"]
        assert seed[0]["data"] == {"roots": ["models", "input", "output"], "total": 1, "phase": "fast"}
        assert set(seed[1]["data"]) == {"phase", "total", "created", "enriched", "skipped", "elapsed"}
        assert "prompt_id" not in seed[1]["data"]
        await sock.close()
    sock = await old.socket("c1")
    await old.call("GET", "/object_info")
    await asyncio.sleep(0.05)
    assert not [f for f in sock.frames if f["type"].startswith("assets.")]
    await sock.close()


# --- §7 secrets and create_time ---------------------------------------------------------------


async def test_queue_hides_secrets_and_extra_data_gains_create_time(cur: Api, old: Api) -> None:
    image = await upload(cur)
    _, running = await cur.queue(slow_graph(image, steps=100, seconds=0.02))
    await wait_running(cur, running["prompt_id"])
    before = int(time.time() * 1000)
    secrets = {"auth_token_comfy_org": "t", "api_key_comfy_org": "k", "keep": 1}
    _, pending = await cur.queue(slow_graph(image, steps=1), extra_data=dict(secrets))
    after = int(time.time() * 1000)
    _, queue = await cur.call("GET", "/queue")
    item = queue["queue_pending"][0]
    assert len(item) == 5 and item[1] == pending["prompt_id"]
    assert set(item[3]) == {"keep", "create_time"}
    assert before <= item[3]["create_time"] <= after
    await cur.call("POST", f"/api/jobs/{running['prompt_id']}/cancel")
    entry = await cur.history(pending["prompt_id"])
    assert len(entry["prompt"]) == 5 and set(entry["prompt"][3]) == {"keep", "create_time"}
    _, job = await cur.call("GET", f"/api/jobs/{pending['prompt_id']}")
    assert job["create_time"] == item[3]["create_time"]
    await upload(old)
    _, body = await old.queue(invert_graph("gradient.png"), extra_data={"keep": 1})
    assert "create_time" not in (await old.history(body["prompt_id"]))["prompt"][3]


# --- §8 feature flags, Comfy-Usage-Source -----------------------------------------------------

FEATURES = {
    "supports_preview_metadata": True,
    "supports_model_type_tags": True,
    "max_upload_size": 104857600,
    "extension": {"manager": {"supports_v4": True}},
    "node_replacements": True,
    "assets": True,
}


async def test_features_route_and_socket_exchange(cur: Api, old: Api) -> None:
    assert await cur.call("GET", "/features") == (200, FEATURES)
    assert await cur.call("GET", "/api/features") == (200, FEATURES)
    sock = await cur.socket("c1")
    await sock.wait_for(lambda f: f["type"] == "status")
    await asyncio.sleep(0.02)
    assert "feature_flags" not in sock.types()  # never unprompted
    await sock.ws.send_str(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
    await sock.wait_for(lambda f: f["type"] == "feature_flags")
    assert next(f for f in sock.frames if f["type"] == "feature_flags")["data"] == FEATURES
    await sock.close()
    assert (await old.call("GET", "/features"))[1] == {
        "supports_preview_metadata": True,
        "max_upload_size": 104857600,
    }


async def test_usage_source_header_fills_extra_data_only_when_absent(cur: Api, old: Api) -> None:
    image = await upload(cur)
    headers = {"Comfy-Usage-Source": "comfyweb"}

    async def post(api: Api, body: dict[str, Any]) -> dict[str, Any]:
        status, answer = await api.call("POST", "/prompt", json=body, headers=headers)
        assert status == 200
        return await api.history(answer["prompt_id"])

    plain = await post(cur, {"prompt": invert_graph(image)})
    explicit = await post(
        cur, {"prompt": invert_graph(image, "e"), "extra_data": {"comfy_usage_source": "mine"}}
    )
    assert plain["prompt"][3]["comfy_usage_source"] == "comfyweb"
    assert explicit["prompt"][3]["comfy_usage_source"] == "mine"
    await upload(old)
    assert (
        "comfy_usage_source" not in (await post(old, {"prompt": invert_graph("gradient.png")}))["prompt"][3]
    )


# --- §10 caching: history outputs of this prompt, intermediate outputs -----------------------


def two_outputs(image: str) -> dict[str, Any]:
    graph = invert_graph(image)
    graph["4"] = {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "t/plain"}}
    return graph


@pytest.mark.parametrize("profile", ["0.3.64", "current"])
async def test_history_outputs_of_a_partial_rerun(profile: str) -> None:
    async with running_simulator(profile=profile) as sim, aiohttp.ClientSession() as session:
        api = Api(sim, session)
        image = await upload(api)
        _, full = await api.queue(two_outputs(image))
        assert sorted((await api.history(full["prompt_id"]))["outputs"]) == ["3", "4"]
        _, part = await api.queue(two_outputs(image), partial_execution_targets=["3"])
        shown = sorted((await api.history(part["prompt_id"]))["outputs"])
        # 0.3.64 listed the UI cache of every prompt node; current only what this prompt ran.
        assert shown == (["3", "4"] if profile == "0.3.64" else ["3"])


async def test_cached_intermediate_output_nodes_replay_their_executed_frame() -> None:
    profile = dataclasses.replace(CURRENT, intermediate_output_nodes=frozenset({"PreviewImage"}))
    async with running_simulator(profile=profile) as sim, aiohttp.ClientSession() as session:
        api = Api(sim, session)
        image = await upload(api)
        graph = {
            "1": {"class_type": "LoadImage", "inputs": {"image": image}},
            "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
        }
        _, info = await api.call("GET", "/object_info/PreviewImage")
        assert info["PreviewImage"]["has_intermediate_output"] is True
        sock = await api.socket("c1")
        _, first = await api.queue(graph, client_id="c1")
        await sock.wait_done(first["prompt_id"])
        _, second = await api.queue(graph, client_id="c1")
        await sock.wait_done(second["prompt_id"])
        frames = [
            f
            for f in sock.frames
            if isinstance(f, dict) and f["data"].get("prompt_id") == second["prompt_id"]
        ]
        types = [f["type"] for f in frames]
        # Cached: the in-loop replay, then the intermediate-output replay before success.
        assert types.count("executed") == 2
        assert types.index("execution_success") > max(i for i, t in enumerate(types) if t == "executed")
        await sock.close()


# --- the call log -----------------------------------------------------------------------------


async def test_calls_log_records_current_only_routes_on_both_profiles(cur: Api, old: Api) -> None:
    job_id = str(uuid.uuid4())
    await cur.call("GET", "/api/jobs?limit=1")
    await cur.call("POST", f"/api/jobs/{job_id}/cancel")
    await cur.call("POST", f"/api/jobs/{job_id}/cancel")
    await cur.call("GET", "/queue")  # not logged: 0.3.64 has it too
    calls = await cur.sim.calls()
    assert calls["profile"] == "current"
    assert calls["counts"] == {"GET /api/jobs": 1, "POST /api/jobs/{job_id}/cancel": 2}
    assert calls["calls"][1] == {
        "method": "POST",
        "path": f"/api/jobs/{job_id}/cancel",
        "route": "POST /api/jobs/{job_id}/cancel",
        "status": 200,
    }
    await cur.sim.reset()
    assert (await cur.sim.calls())["calls"] == []
    await old.call("POST", f"/api/jobs/{job_id}/cancel")
    old_calls = await old.sim.calls()
    assert old_calls["profile"] == "0.3.64"
    assert [(c["route"], c["status"]) for c in old_calls["calls"]] == [
        ("POST /api/jobs/{job_id}/cancel", 404)
    ]
    assert (await old.call("POST", "/_sim/calls"))[1]["calls"] == []
