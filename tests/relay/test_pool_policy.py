"""Pool policy end to end with the relay and two simulators: fair sharing and previews."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.db import database_sync_to_async

from jobs.core import service, tabs
from jobs.core.models import Job, Server, Workflow
from simulator.testing import running_simulator
from tests.factories import make_server, make_session, make_upload
from tests.relay.test_relay_with_simulator import TabListener, finished, run_relay, submit, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]
db = database_sync_to_async


async def test_a_second_person_does_not_wait_behind_the_first_persons_twenty_jobs():
    async with running_simulator(delay=0.2) as one, running_simulator(delay=0.2) as two:
        for name, sim in (("one", one), ("two", two)):
            await db(make_server)(name, url=sim.url, max_queued=2, watched=False)
        alice, bob = await db(make_session)(), await db(make_session)()
        colours = [(n * 11 % 256, n * 53 % 256, 200) for n in range(22)]
        uploads = [await db(make_upload)(alice if n < 20 else bob, colour=c) for n, c in enumerate(colours)]
        alice_tabs = [uuid.uuid4() for _ in range(4)]

        def queue(session, tab, upload):
            job, _ = service.submit_job(session, tab, "invert", {"image": str(upload.id)})
            return job

        stop, task = await run_relay()
        first = [await db(queue)(alice, alice_tabs[n % 4], uploads[n]) for n in range(20)]
        await wait_for(lambda: Job.objects.filter(session_key=alice, server__isnull=False).count() >= 4)
        second = [await db(queue)(bob, uuid.uuid4(), uploads[20 + n]) for n in range(2)]
        await wait_for(finished(*[j.id for j in first + second]), timeout=60)
        stop.set()
        await task

    def started(jobs):
        return sorted(Job.objects.get(id=j.id).started_at for j in jobs)

    alice_starts, bob_starts = await db(started)(first), await db(started)(second)
    assert await db(lambda: set(Job.objects.values_list("status", flat=True)))() == {"succeeded"}
    assert max(bob_starts) < alice_starts[5], "both of bob's jobs start before alice's last 15"


async def test_previews_and_node_titles_reach_the_tab():
    async with running_simulator(delay=0.0) as sim:
        await db(make_server)("sim", url=sim.url, watched=False)
        session, tab = await db(make_session)(), uuid.uuid4()
        await db(tabs.claim_tab)(tab, session)
        stop, task = await run_relay()
        await wait_for(lambda: Workflow.objects.filter(slug="preview-demo").exists())
        async with TabListener(tab) as heard:
            job = await submit(session, tab, "preview-demo", steps=4)
            await wait_for(finished(job.id))
            await asyncio.sleep(0.1)
        stop.set()
        await task
    assert (await db(Job.objects.get)(id=job.id)).status == "succeeded"
    previews = heard.of_type("job.preview")
    assert previews and all(p["image"].startswith("data:image/") for p in previews)
    titles = {p["title"] for p in heard.of_type("job.progress") if p.get("title")}
    assert "Simulated sampler" in titles
    steps = [p["value"] for p in heard.of_type("job.progress") if p.get("node") == "2"]
    assert any(v % 1 > 0 for v in steps), "the running node's steps count as a fraction of a node"


async def test_server_details_are_recorded_on_connect(comfyui_profile):
    async with running_simulator(delay=0.0) as sim:
        await db(make_server)("sim", url=sim.url, watched=False)
        stop, task = await run_relay()
        await wait_for(lambda: Server.objects.get(name="sim").node_classes is not None)
        stop.set()
        await task
    server = await db(Server.objects.get)(name="sim")
    version = {"0.3.64": "0.3.64", "current": "0.38.1"}[comfyui_profile]
    assert server.version == version and "ImageInvert" in server.node_classes
    assert ("jobs_api" in server.capabilities) == (comfyui_profile == "current")
    assert "feature:supports_preview_metadata" in server.capabilities, "read from /features"
    assert server.system_stats["devices"], "devices and VRAM come from /system_stats"
