"""A pool whose servers hold different model files: every job runs where its model is.

Daphne and two simulator processes, each with its own model files; the exported workflows
of ComfyUI's frontend (tests/fixtures/comfyui/workflows), driven through the public API and
the tab WebSocket as an outside client would.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.clients import Browser, follow_until_done
from tests.factories import png_bytes
from tests.live import live_app

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("live")]

SD_SERVER = [
    "checkpoints/v1-5-pruned-emaonly-fp16.safetensors",
    "checkpoints/DreamShaper_8_pruned.safetensors",
    "upscale_models/RealESRGAN_x4plus.safetensors",
]
XL_SERVER = [
    "checkpoints/sd_xl_base_1.0.safetensors",
    "checkpoints/sd_xl_refiner_1.0.safetensors",
    "checkpoints/512-inpainting-ema.safetensors",
]
WHERE = {  # workflow → index of the only simulator holding its models
    "default-txt2img": 0,
    "img2img": 0,
    "hiresfix-latent-2pass": 0,
    "upscale-esrgan": 0,
    "inpaint": 1,
    "sdxl-base-refiner": 1,
}
SIZES = {  # what the simulator's stand-ins make of each graph (latent × 8, upscale × 4)
    "default-txt2img": [(512, 512)],
    "img2img": [(512, 512)],
    "hiresfix-latent-2pass": [(512, 512), (768, 768)],
    "upscale-esrgan": [(512, 512), (2048, 2048)],
    "inpaint": [(512, 512)],
    "sdxl-base-refiner": [(1024, 1024)],
}

# Run with `manage.py shell -c` before ComfyWeb starts: the fixtures as workflows, each
# LoadImage an image parameter (what the admin import proposes for it).
SEED = f"""
import json
from pathlib import Path
from jobs.core.models import Workflow
for slug in {sorted(WHERE)!r} + ["nowhere"]:
    source = "default-txt2img" if slug == "nowhere" else slug
    graph = json.loads(Path("tests/fixtures/comfyui/workflows/" + source + ".api.json").read_text())
    if slug == "nowhere":
        graph["4"]["inputs"]["ckpt_name"] = "flux1-dev.safetensors"
    params = [
        {{"name": "image", "type": "image", "node": node_id, "input": "image"}}
        for node_id, node in graph.items() if node["class_type"] == "LoadImage"
    ]
    Workflow.objects.update_or_create(slug=slug, defaults={{"name": slug, "graph": graph, "params": params}})
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    directory = tmp_path_factory.mktemp("live-models")
    with live_app(
        directory, simulators=2, sim_delay=0.02, models=[SD_SERVER, XL_SERVER], seed=SEED
    ) as running:
        yield running


def _server_name(app, index: int) -> str:
    return "127.0.0.1-" + app.simulators[index][0].rsplit(":", 1)[1]


async def _wait_for_inventories(browser: Browser) -> None:
    """The relay reads each server's /object_info on connect; until then a job waits."""
    for _ in range(100):
        answer = browser.post(
            "/api/jobs/", json={"tab": str(uuid.uuid4()), "workflow": "nowhere", "params": {}}
        )
        if answer.status_code == 400:
            return
        browser.post(f"/api/jobs/{answer.json()['job']['id']}/cancel/")
        await asyncio.sleep(0.2)
    raise AssertionError("the servers' inventories were never read")


async def test_every_job_of_the_exported_workflows_runs_where_its_model_is(app):
    browser = Browser(app)
    await _wait_for_inventories(browser)
    tabs = {slug: [str(uuid.uuid4()) for _ in range(2)] for slug in WHERE}
    sockets = {tab: await browser.tab_socket(tab) for pair in tabs.values() for tab in pair}
    for socket in sockets.values():
        assert json.loads(await socket.recv())["type"] == "tab.snapshot"
    jobs: dict[str, list[str]] = {}
    for slug, pair in tabs.items():
        for tab in pair:
            upload = browser.upload(png_bytes(width=16, height=16))
            params = {"image": upload["id"]} if slug in ("img2img", "inpaint") else {}
            answer = browser.post("/api/jobs/", json={"tab": tab, "workflow": slug, "params": params})
            assert answer.status_code == 201, (slug, answer.text)
            jobs.setdefault(tab, []).append(answer.json()["job"]["id"])
    await asyncio.gather(
        *(follow_until_done(sockets[tab], set(ids), timeout=120) for tab, ids in jobs.items())
    )
    for socket in sockets.values():
        await socket.close()
    for slug, pair in tabs.items():
        for tab in pair:
            (job_id,) = jobs[tab]
            job = browser.http.get(f"/api/jobs/{job_id}/").json()["job"]
            assert job["status"] == "succeeded", (slug, job.get("error"))
            assert job["server"] == _server_name(app, WHERE[slug]), slug
            assert job["outputs"], slug
            sizes = sorted((o["width"], o["height"]) for o in job["outputs"])
            assert sizes == SIZES[slug], slug


def test_a_model_no_server_lists_is_refused_at_once_naming_the_file(app):
    browser = Browser(app)
    answer = browser.post("/api/jobs/", json={"tab": str(uuid.uuid4()), "workflow": "nowhere", "params": {}})
    if answer.status_code == 201:  # inventories not read yet: it waits; they are read in seconds
        pytest.fail("the first test waits for the inventories; run the module as a whole")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "no_capable_server"
    assert error["message"] == "No server in the pool has flux1-dev.safetensors."
