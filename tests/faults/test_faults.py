"""Nothing is lost (SPEC §2.4–2.7) with real processes: ComfyWeb under Daphne and simulators
as separate processes that the tests kill, pause and restart."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.clients import Browser, follow_until_done
from tests.factories import png_bytes
from tests.live import live_app

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("faults")]


def distinct_png(n: int) -> bytes:
    return png_bytes(width=10 + n, height=8, colour=(n * 29 % 256, n * 71 % 256, 90))


def assert_inverted(browser: Browser, job: dict, source: bytes) -> None:
    (output,) = job["outputs"]
    result = Image.open(io.BytesIO(browser.http.get(output["url"]).content)).convert("RGB")
    original = Image.open(io.BytesIO(source)).convert("RGB")
    assert result.size == original.size
    for xy in [(0, 0), (3, 4), (original.width - 1, original.height - 1)]:
        assert all(
            abs(a + b - 255) <= 1 for a, b in zip(result.getpixel(xy), original.getpixel(xy), strict=True)
        )


def wait_until(predicate, timeout=30.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError("condition not reached in time")


def output_files(data_dir: Path, job_id: str) -> list[Path]:
    folder = data_dir / "files" / "outputs" / uuid.UUID(job_id).hex
    return sorted(folder.iterdir()) if folder.exists() else []


def test_killing_the_locked_server_moves_the_tab_and_every_job_succeeds(tmp_path):
    env = {"COMFYWEB_FAILOVER_AFTER": "1.5"}
    with live_app(tmp_path, simulators=2, sim_delay=0.3, env=env) as app:
        browser = Browser(app)
        tab = str(uuid.uuid4())
        sources = [distinct_png(n) for n in range(4)]
        jobs = [browser.submit(tab, browser.upload(data)) for data in sources]
        wait_until(lambda: browser.job(jobs[0]["id"])["status"] == "running")
        locked = browser.http.get(f"/api/tabs/{tab}/").json()["lock"]["server"]
        victim = next(i for i in range(2) if app.simulator_name(i) == locked)
        app.kill_simulator(victim)
        finished = browser.wait_finished([j["id"] for j in jobs], timeout=60)
        survivor = app.simulator_name(1 - victim)
        for job, data in zip(jobs, sources, strict=True):
            final = finished[job["id"]]
            assert final["status"] == "succeeded", final["error"]
            assert_inverted(browser, final, data)
        moved = [finished[j["id"]] for j in jobs if finished[j["id"]]["attempt"] > 1]
        assert moved, "jobs caught on the dead server ran again as new attempts"
        assert all(job["server"] == survivor for job in moved)
        health = browser.http.get("/healthz").json()
        assert {s["name"]: s["status"] for s in health["servers"]}[locked] == "offline"


def test_killing_the_web_process_mid_queue_loses_and_doubles_nothing(tmp_path):
    with live_app(tmp_path, simulators=2, sim_delay=0.25) as app:
        browser = Browser(app)
        tabs = [str(uuid.uuid4()) for _ in range(2)]
        sources = [distinct_png(n) for n in range(8)]
        jobs = [browser.submit(tabs[n % 2], browser.upload(data)) for n, data in enumerate(sources)]
        wait_until(lambda: sum(browser.job(j["id"])["status"] == "succeeded" for j in jobs) >= 2)
        app.kill_app()
        time.sleep(0.5)
        app.start_app()
        browser.http.cookies.update(browser.http.cookies)
        finished = browser.wait_finished([j["id"] for j in jobs], timeout=60)
        for job, data in zip(jobs, sources, strict=True):
            final = finished[job["id"]]
            assert final["status"] == "succeeded", final["error"]
            assert len(final["outputs"]) == 1, "exactly one copy of each output"
            assert len(output_files(app.data_dir, job["id"])) == 1
            assert_inverted(browser, final, data)
        for tab in tabs:
            assert browser.http.get(f"/api/tabs/{tab}/").json()["lock"] is None


def test_dropped_comfyui_sockets_mid_run_lose_nothing_the_tab_shows(tmp_path):
    async def scenario(app):
        browser = Browser(app)
        tab = str(uuid.uuid4())
        socket = await browser.tab_socket(tab)
        snapshot = json.loads(await socket.recv())
        sources = [distinct_png(n) for n in range(3)]
        jobs = [browser.submit(tab, browser.upload(data)) for data in sources]
        await asyncio.to_thread(wait_until, lambda: browser.job(jobs[0]["id"])["status"] == "running")
        for url, _ in app.simulators:
            httpx.post(f"{url}/_sim/faults", json={"drop_sockets": True})
        seen = await follow_until_done(socket, {j["id"] for j in jobs})
        await socket.close()
        numbered = [m["seq"] for m in seen if "seq" in m]
        assert numbered == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(numbered)))
        last = {m["job"]["id"]: m["job"] for m in seen if m["type"] == "job.updated"}
        for job, data in zip(jobs, sources, strict=True):
            assert last[job["id"]]["status"] == "succeeded"
            assert_inverted(browser, last[job["id"]], data)

    with live_app(tmp_path, simulators=1, sim_delay=0.3) as app:
        asyncio.run(scenario(app))


def test_cancelling_a_queued_and_a_running_job_leaves_the_other_tab_alone(tmp_path):
    with live_app(tmp_path, simulators=1, sim_delay=0.5) as app:
        app.manage("shell", "-c", "from jobs.core.models import Server; Server.objects.update(max_queued=5)")
        mine, theirs = Browser(app), Browser(app)
        my_tab, their_tab = str(uuid.uuid4()), str(uuid.uuid4())
        running = mine.submit(my_tab, mine.upload(distinct_png(1)))
        wait_until(lambda: mine.job(running["id"])["status"] == "running")
        queued = mine.submit(my_tab, mine.upload(distinct_png(2)))
        source = distinct_png(3)
        other = theirs.submit(their_tab, theirs.upload(source))
        wait_until(lambda: mine.job(queued["id"])["status"] == "queued")
        wait_until(lambda: theirs.job(other["id"])["status"] == "queued")
        assert theirs.job(other["id"])["server"] == mine.job(running["id"])["server"], "same server"
        for job in (queued, running):
            assert mine.post(f"/api/jobs/{job['id']}/cancel/").status_code == 200
        done = mine.wait_finished([running["id"], queued["id"]], timeout=30)
        assert {j["status"] for j in done.values()} == {"cancelled"}
        final = theirs.wait_finished([other["id"]], timeout=30)[other["id"]]
        assert final["status"] == "succeeded" and final["attempt"] == 1
        assert_inverted(theirs, final, source)


def test_a_server_that_stops_answering_goes_offline_and_comes_back(tmp_path):
    with live_app(tmp_path, simulators=2, sim_delay=0.0) as app:
        browser = Browser(app)

        def states():
            return {s["name"]: s["status"] for s in browser.http.get("/healthz").json()["servers"]}

        frozen, other = app.simulator_name(0), app.simulator_name(1)
        wait_until(lambda: set(states().values()) == {"online"})
        app.pause_simulator(0)
        wait_until(lambda: states()[frozen] == "offline", timeout=30)
        tab = str(uuid.uuid4())
        job = browser.submit(tab, browser.upload(distinct_png(5)))
        finished = browser.wait_finished([job["id"]], timeout=30)[job["id"]]
        assert finished["status"] == "succeeded" and finished["server"] == other, "no new lock offline"
        app.resume_simulator(0)
        wait_until(lambda: states()[frozen] == "online", timeout=30)


def test_a_server_that_loses_its_queue_runs_the_lost_jobs_again(tmp_path):
    with live_app(tmp_path, simulators=1, sim_delay=0.4) as app:
        app.manage("shell", "-c", "from jobs.core.models import Server; Server.objects.update(max_queued=4)")
        browser = Browser(app)
        tab = str(uuid.uuid4())
        sources = [distinct_png(n) for n in range(3)]
        jobs = [browser.submit(tab, browser.upload(data)) for data in sources]
        wait_until(lambda: [browser.job(j["id"])["status"] for j in jobs] == ["running", "queued", "queued"])
        httpx.post(f"{app.simulators[0][0]}/_sim/faults", json={"lose_queue": True})  # as a restart would
        finished = browser.wait_finished([j["id"] for j in jobs], timeout=60)
        for job, data in zip(jobs, sources, strict=True):
            final = finished[job["id"]]
            assert final["status"] == "succeeded", final["error"]
            assert_inverted(browser, final, data)
        assert all(finished[j["id"]]["attempt"] == 2 for j in jobs), "each lost prompt ran again"
