"""Jobs that wait because no server is reachable say so, and may stop waiting (issue R)."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async

from jobs.core import tabs
from jobs.core.models import Job
from jobs.core.serializers import job_dict
from tests.factories import make_server, make_session
from tests.relay.test_relay_with_simulator import TabListener, finished, run_relay, submit, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]
db = database_sync_to_async
DEAD = "http://127.0.0.1:9"


async def test_a_job_with_no_reachable_server_says_why_it_waits(settings):
    settings.COMFYWEB_FAIL_WAITING_AFTER = 0.0
    await db(make_server)("gone", url=DEAD, watched=False)
    session, tab = await db(make_session)(), uuid.uuid4()
    await db(tabs.claim_tab)(tab, session)
    async with TabListener(tab) as tab_events:
        job = await submit(session, tab)
        stop, task = await run_relay()
        try:
            await wait_for(lambda: any(m.get("waiting") for m in tab_events.of_type("job.progress")))
            shape = await db(lambda: job_dict(Job.objects.get(id=job.id)))()
            assert shape["status"] == "pending" and shape["waiting"]["code"] == "no_server"
            assert (await db(Job.objects.get)(id=job.id)).attempt == 0, "no attempt spent on a dead server"
        finally:
            stop.set()
            await task


async def test_with_a_time_limit_a_stranded_job_fails_with_a_message_a_person_can_act_on(settings):
    settings.COMFYWEB_FAIL_WAITING_AFTER = 1.0
    await db(make_server)("gone", url=DEAD, watched=False)
    session, tab = await db(make_session)(), uuid.uuid4()
    await db(tabs.claim_tab)(tab, session)
    job = await submit(session, tab)
    stop, task = await run_relay()
    try:
        await wait_for(finished(job.id), timeout=15)
    finally:
        stop.set()
        await task
    job = await db(Job.objects.get)(id=job.id)
    assert job.status == "failed" and job.error["code"] == "no_server"
    assert job.error["message"] == (
        "No ComfyUI server was reachable for 1 second, so the job did not run. "
        "Run it again later, or ask an operator to check the pool."
    )
