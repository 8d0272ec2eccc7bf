"""ComfyWeb as a user's client sees it: Daphne and two simulators as real processes.

Drives the public HTTP API and the tab WebSocket only, as an outside client would.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid

import httpx
import pytest
from PIL import Image

from tests.clients import Browser, follow_until_done
from tests.factories import png_bytes
from tests.live import live_app

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("live")]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with live_app(tmp_path_factory.mktemp("live-api"), simulators=2, sim_delay=0.05) as running:
        yield running


async def test_two_tabs_run_invert_at_once_and_each_gets_its_own_result(app):
    browser = Browser(app)
    images = [png_bytes(colour=(10, 200, 30)), png_bytes(width=12, height=6, colour=(250, 5, 120))]
    tabs = [str(uuid.uuid4()), str(uuid.uuid4())]
    sockets = [await browser.tab_socket(tab) for tab in tabs]
    snapshots = [json.loads(await s.recv()) for s in sockets]
    assert [s["type"] for s in snapshots] == ["tab.snapshot", "tab.snapshot"]
    jobs = []
    for tab, image in zip(tabs, images, strict=True):
        upload = browser.upload(image)
        answer = browser.post(
            "/api/jobs/", json={"tab": tab, "workflow": "invert", "params": {"image": upload["id"]}}
        )
        assert answer.status_code == 201, answer.text
        jobs.append(answer.json()["job"])
    streams = await asyncio.gather(
        *(follow_until_done(s, {j["id"]}) for s, j in zip(sockets, jobs, strict=True))
    )
    for socket in sockets:
        await socket.close()

    servers = set()
    for stream, job, image, tab in zip(streams, jobs, images, tabs, strict=True):
        ids = {m["job"]["id"] for m in stream if m["type"] == "job.updated"}
        assert ids == {job["id"]}, "each tab hears only about its own job"
        final = browser.http.get(f"/api/jobs/{job['id']}/").json()["job"]
        assert final["status"] == "succeeded" and final["tab"] == tab
        (output,) = final["outputs"]
        result = Image.open(io.BytesIO(browser.http.get(output["url"]).content)).convert("RGB")
        original = Image.open(io.BytesIO(image)).convert("RGB")
        assert result.size == original.size == (output["width"], output["height"])
        assert all(
            abs(a + b - 255) <= 1
            for a, b in zip(result.getpixel((1, 1)), original.getpixel((1, 1)), strict=True)
        )
        servers.add(final["server"])
        state = browser.http.get(f"/api/tabs/{tab}/").json()
        assert state["lock"] is None, "the lock is released when the tab's work is done"
    assert servers <= {"127.0.0.1-" + url.rsplit(":", 1)[1] for url, _ in app.simulators}
    assert len(servers) == 2, "two tabs starting at once spread over the two servers"

    gallery = browser.http.get("/gallery/").text
    assert gallery.count("data-output") >= 2


async def test_outputs_are_private_to_their_session(app):
    owner, stranger = Browser(app), Browser(app)
    tab = str(uuid.uuid4())
    upload = owner.upload(png_bytes())
    socket = await owner.tab_socket(tab)
    await socket.recv()
    job = owner.post(
        "/api/jobs/", json={"tab": tab, "workflow": "invert", "params": {"image": upload["id"]}}
    ).json()["job"]
    await follow_until_done(socket, {job["id"]})
    await socket.close()
    final = owner.http.get(f"/api/jobs/{job['id']}/").json()["job"]
    url = final["outputs"][0]["url"]
    assert owner.http.get(url).status_code == 200
    assert stranger.http.get(url).status_code == 404
    assert stranger.http.get(f"/api/jobs/{job['id']}/").status_code == 404
    refused = await stranger.tab_socket(tab)
    message = json.loads(await refused.recv())
    assert message["type"] == "error" and message["code"] == "tab_taken"


def test_healthz_sees_both_servers_online(app):
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body = httpx.get(f"{app.url}/healthz").json()
        if [s["status"] for s in body["servers"]] == ["online", "online"]:
            break
        time.sleep(0.2)
    assert body["ok"] and [s["status"] for s in body["servers"]] == ["online", "online"]
    assert all("url" not in s for s in body["servers"]), "server URLs are for staff only"
