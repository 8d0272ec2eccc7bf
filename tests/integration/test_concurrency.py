"""SPEC §2.2–2.3 under load: 50 tabs × 3 jobs over 3 simulated servers, all real processes.

Counts cross-talk (a tab hearing of a job that is not its own: must be 0), checks one server
per tab for jobs active at the same time (a lock is released when a tab's work is done, so a
later job may go elsewhere), every job succeeded, every lock released, and that the tabs used
every server.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid

import pytest

from tests.clients import Browser
from tests.factories import png_bytes
from tests.live import live_app

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("load")]

SESSIONS, TABS_PER_SESSION, JOBS_PER_TAB = 10, 5, 3


async def run_tab(browser: Browser, tab: str, image: dict) -> tuple[set[str], list[dict]]:
    socket = await browser.tab_socket(tab)
    heard: list[dict] = [json.loads(await socket.recv())]
    jobs = set()
    for _ in range(JOBS_PER_TAB):
        answer = await asyncio.to_thread(
            browser.post,
            "/api/jobs/",
            json={"tab": tab, "workflow": "invert", "params": {"image": image["id"]}},
        )
        assert answer.status_code == 201, answer.text
        jobs.add(answer.json()["job"]["id"])
    done: set[str] = set()
    async with asyncio.timeout(120):
        while done != jobs:
            message = json.loads(await socket.recv())
            heard.append(message)
            if message["type"] == "job.updated" and message["job"]["status"] in (
                "succeeded",
                "failed",
                "cancelled",
            ):
                done.add(message["job"]["id"])
    await socket.close()
    return jobs, heard


async def scenario(app):
    browsers = [Browser(app) for _ in range(SESSIONS)]
    work = []
    for n, browser in enumerate(browsers):
        for t in range(TABS_PER_SESSION):
            image = browser.upload(png_bytes(colour=(n * 25 % 256, t * 50 % 256, 128)))
            work.append((browser, str(uuid.uuid4()), image))
    results = await asyncio.gather(*(run_tab(b, tab, image) for b, tab, image in work))
    return work, results


def test_fifty_tabs_three_jobs_each_over_three_servers(tmp_path):
    with live_app(tmp_path, simulators=3, sim_delay=0.02) as app:
        work, results = asyncio.run(scenario(app))
        cross_talk = overlapping = 0
        servers_used = set()
        for (browser, tab, _), (jobs, heard) in zip(work, results, strict=True):
            for message in heard:
                job_id = message["job"]["id"] if message["type"] == "job.updated" else message.get("job")
                if message["type"] in ("job.updated", "job.progress", "job.preview") and job_id not in jobs:
                    cross_talk += 1
            final = [browser.job(j) for j in jobs]
            assert {j["status"] for j in final} == {"succeeded"}, [j["error"] for j in final]
            assert all(len(j["outputs"]) == 1 for j in final)
            for a, b in itertools.combinations(final, 2):
                if a["created_at"] < b["finished_at"] and b["created_at"] < a["finished_at"]:
                    overlapping += 1
                    assert a["server"] == b["server"], f"tab {tab}: jobs active together on two servers"
            servers_used |= {j["server"] for j in final}
            assert browser.http.get(f"/api/tabs/{tab}/").json()["lock"] is None, "lock released"
        assert cross_talk == 0
        assert overlapping >= len(work), "most tabs had jobs active at the same time"
        assert len(servers_used) == 3, "the tabs used every server"
        assert sum(len(jobs) for jobs, _ in results) == SESSIONS * TABS_PER_SESSION * JOBS_PER_TAB
