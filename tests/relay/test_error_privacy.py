"""A job's error never shows the server's URL (staff only); the full text goes to the server."""

from __future__ import annotations

import uuid

import httpx
import pytest
from channels.db import database_sync_to_async

from jobs.comfy import ComfyClient
from jobs.core import attempts, service
from jobs.core.models import Job, Server
from jobs.relay.watcher import ServerWatcher
from tests.factories import make_server, make_session, make_upload

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async
URL = "http://gpu-secret.internal:8188"


def answer_400_empty(request: httpx.Request) -> httpx.Response:
    return httpx.Response(400, content=b"")


async def test_dispatch_failure_names_the_server_not_its_url():
    await db(make_server)("gpu1", url=URL)
    session = await db(make_session)()
    upload = await db(make_upload)(session)
    job, _ = await db(service.submit_job)(session, uuid.uuid4(), "invert", {"image": str(upload.id)})
    ticket, _ = await db(attempts.start_attempt)(job.id)
    client = ComfyClient(URL, transport=httpx.MockTransport(answer_400_empty))
    watcher = ServerWatcher(ticket.server_id, "gpu1", URL, "cid", client=client)
    await watcher.submit(ticket)
    await watcher.stop()
    job = await db(Job.objects.get)(id=job.id)
    assert job.status == "failed" and job.error["code"] == "dispatch_failed"
    assert "gpu1" in job.error["message"] and "400" in job.error["message"]
    assert "gpu-secret" not in str(job.error)
    assert "gpu-secret" in (await db(Server.objects.get)(name="gpu1")).last_error, "staff see it"
