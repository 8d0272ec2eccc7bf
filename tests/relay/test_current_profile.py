"""ComfyWeb against the current ComfyUI release's protocol (issue V), beside 0.3.64: the relay
finds the Jobs API on connect and cancels by prompt id there; on 0.3.64 it keeps the queue
delete and the guarded interrupt. The simulator records which routes a client called."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async

from jobs.core import events, service
from jobs.core.models import Job, Server
from simulator.testing import running_simulator
from tests.factories import make_server, make_session
from tests.relay.test_relay_with_simulator import finished, run_relay, submit, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]
db = database_sync_to_async


@pytest.mark.parametrize("profile", ["0.3.64", "current"])
async def test_cancel_uses_the_jobs_api_where_the_server_has_it(profile):
    async with running_simulator(delay=0.4, profile=profile) as sim:
        await db(make_server)("sim", url=sim.url, watched=False)
        session, tab = await db(make_session)(), uuid.uuid4()
        stop, task = await run_relay()
        try:
            await wait_for(lambda: Server.objects.get(name="sim").version != "")
            running = await submit(session, tab)
            await wait_for(lambda: Job.objects.get(id=running.id).status == "running")
            queued = await submit(session, tab)
            await wait_for(lambda: Job.objects.get(id=queued.id).status == "queued")
            for job in (queued, running):
                assert (await db(service.cancel_job)(session, job.id)).needs_relay
                await events.nudge_relay("cancel", job=str(job.id))
            await wait_for(finished(running.id, queued.id), timeout=30)
        finally:
            stop.set()
            await task
        calls = await sim.calls()
    statuses = {j: (await db(Job.objects.get)(id=j)).status for j in (running.id, queued.id)}
    assert set(statuses.values()) == {"cancelled"}
    cancels = {c["path"] for c in calls["calls"] if c["method"] == "POST" and c["path"].endswith("/cancel")}
    server = await db(Server.objects.get)(name="sim")
    if profile == "current":
        assert server.version == "0.38.1" and "jobs_api" in server.capabilities
        assert cancels == {f"/api/jobs/{running.id}/cancel", f"/api/jobs/{queued.id}/cancel"}
    else:
        assert "jobs_api" not in server.capabilities
        assert cancels == set(), "0.3.64: queue delete and /interrupt"


@pytest.mark.parametrize("profile", ["0.3.64", "current"])
async def test_a_lost_queue_is_told_by_the_jobs_api_where_the_server_has_it(profile):
    async with running_simulator(delay=0.3, profile=profile) as sim:
        await db(make_server)("sim", url=sim.url, watched=False)
        session = await db(make_session)()
        stop, task = await run_relay()
        try:
            await wait_for(lambda: Server.objects.get(name="sim").version != "")
            jobs = [await submit(session, uuid.uuid4()) for _ in range(2)]
            await wait_for(lambda: Job.objects.get(id=jobs[0].id).status == "running")
            await sim.set_faults(lose_queue=True)  # a restart: queue, history and the running job gone
            await wait_for(finished(*(j.id for j in jobs)), timeout=40)
        finally:
            stop.set()
            await task
        calls = await sim.calls()
    done = [await db(Job.objects.get)(id=j.id) for j in jobs]
    assert [j.status for j in done] == ["succeeded", "succeeded"]
    assert done[0].attempt == 2, "the vanished prompt got a new attempt"
    looked_up = {
        c["path"] for c in calls["calls"] if c["method"] == "GET" and c["path"].startswith("/api/jobs/")
    }
    if profile == "current":
        assert f"/api/jobs/{jobs[0].id}" in looked_up, "vanished: told by the Jobs API"
    else:
        assert looked_up == set()
