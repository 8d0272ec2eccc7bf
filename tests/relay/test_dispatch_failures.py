"""A failed dispatch is about the server, not the job (issue R).

- nothing reached the server (refused, reset, a 5xx before POST /prompt): no attempt is used,
  the server is unreachable at once and the tab's idle lock moves;
- POST /prompt with no answer: the prompt is looked up before it goes anywhere else;
- a 5xx to POST /prompt itself: an attempt, and the server stays trusted.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import httpx
import pytest
from channels.db import database_sync_to_async
from django.conf import settings

from jobs.comfy import ComfyClient
from jobs.core import attempts, service
from jobs.core.models import Attempt, Job, Server, Tab
from jobs.relay.watcher import ServerWatcher
from tests.factories import TEST_HOLDER, make_server, make_session, make_upload

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async
URL = "http://gpu1.invalid:8188"
UPLOADED = {"name": "in.png", "subfolder": "", "type": "input"}
QUEUED = {"prompt_id": "x", "number": 3, "node_errors": {}}
EMPTY_QUEUE = {"queue_running": [], "queue_pending": []}

Handler = Callable[[httpx.Request], httpx.Response]


def routes(**answers: Handler) -> Handler:
    """A fake ComfyUI: `upload`, `prompt`, `queue`, `history` answer their routes."""

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/upload/image":
            return answers.get("upload", lambda r: httpx.Response(200, json=UPLOADED))(request)
        if path == "/prompt":
            return answers.get("prompt", lambda r: httpx.Response(200, json=QUEUED))(request)
        if path == "/queue":
            return answers.get("queue", lambda r: httpx.Response(200, json=EMPTY_QUEUE))(request)
        if path.startswith("/history/"):
            return answers.get("history", lambda r: httpx.Response(200, json={}))(request)
        return httpx.Response(404)

    return handle


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def timed_out(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("no answer", request=request)


async def dispatch(handler: Handler, *, tab: uuid.UUID | None = None) -> tuple[Job, ServerWatcher]:
    """Submit an invert job, bind it (taking the lock), and let a watcher submit it."""
    server = await db(make_server)("gpu1", url=URL)
    session = await db(make_session)()
    upload = await db(make_upload)(session)
    tab = tab or uuid.uuid4()
    job, _ = await db(service.submit_job)(session, tab, "invert", {"image": str(upload.id)})
    ticket, _ = await db(attempts.start_attempt)(job.id)
    assert ticket is not None and ticket.server_id == server.id
    client = ComfyClient(URL, transport=httpx.MockTransport(handler))
    watcher = ServerWatcher(server.id, "gpu1", URL, "cid", client=client, holder=TEST_HOLDER)
    watcher.trust.answered()  # it was online until now
    await watcher.submit(ticket)
    return await db(Job.objects.get)(id=job.id), watcher


async def attempt_rows(job: Job) -> int:
    return await db(Attempt.objects.filter(job_id=job.id).count)()


async def test_a_refused_upload_uses_no_attempt_and_moves_the_idle_lock():
    job, watcher = await dispatch(routes(upload=refused))
    await watcher.stop()
    assert job.status == "pending" and job.server_id is None
    assert job.attempt == 0 and await attempt_rows(job) == 0, "nothing ran: it was no attempt"
    server = await db(Server.objects.get)(name="gpu1")
    assert server.status == "offline" and server.status_by == TEST_HOLDER, "unreachable at once"
    assert server.flaps == 1
    assert (await db(Tab.objects.get)(id=job.tab_id)).server_id is None, "the tab's lock moved"


async def test_a_5xx_from_upload_is_a_failure_of_the_server_not_of_the_job():
    job, watcher = await dispatch(routes(upload=lambda r: httpx.Response(500, text="trouble")))
    await watcher.stop()
    assert job.status == "pending" and job.attempt == 0 and await attempt_rows(job) == 0
    assert (await db(Server.objects.get)(name="gpu1")).status == "offline"


async def test_refused_dispatches_never_exhaust_the_attempts():
    server_down = routes(upload=refused)
    job, watcher = await dispatch(server_down)
    for _ in range(settings.COMFYWEB_MAX_ATTEMPTS + 2):
        await db(Server.objects.filter(name="gpu1").update)(status="online")
        ticket, _ = await db(attempts.start_attempt)(job.id)
        assert ticket is not None, "the job is still placeable"
        await watcher.submit(ticket)
    await watcher.stop()
    job = await db(Job.objects.get)(id=job.id)
    assert job.status == "pending" and job.attempt == 0


async def test_a_5xx_to_the_prompt_itself_is_an_attempt_and_the_server_stays_online():
    job, watcher = await dispatch(routes(prompt=lambda r: httpx.Response(500, text="graph crashed")))
    await watcher.stop()
    assert job.status == "pending" and job.server_id is None
    assert job.attempt == 1 and await attempt_rows(job) == 1, "the attempt counts"
    attempt = await db(Attempt.objects.get)(job_id=job.id)
    assert attempt.status == "failed" and "gpu1" in attempt.error["message"]
    assert (await db(Server.objects.get)(name="gpu1")).status == "online", "one poison job is not an outage"
    assert (await db(Tab.objects.get)(id=job.tab_id)).server_id is not None, "the tab keeps its server"


async def test_a_prompt_that_timed_out_but_reached_the_queue_is_followed_there():
    pid_in_queue: dict[str, str] = {}

    def queue(request: httpx.Request) -> httpx.Response:
        pid = pid_in_queue["pid"]
        return httpx.Response(200, json={"queue_running": [], "queue_pending": [[4, pid, {}, {}, []]]})

    def prompt(request: httpx.Request) -> httpx.Response:
        pid_in_queue["pid"] = json.loads(request.content)["prompt_id"]
        raise httpx.ReadTimeout("no answer", request=request)

    job, watcher = await dispatch(routes(prompt=prompt, queue=queue))
    await watcher.stop()
    assert job.status == "queued" and job.attempt == 1, "the same attempt goes on, on the same server"
    assert str(job.id) in watcher.tracked


async def test_a_prompt_that_timed_out_and_is_not_on_the_server_is_placed_again_as_no_attempt():
    job, watcher = await dispatch(routes(prompt=timed_out))
    await watcher.stop()
    assert job.status == "pending" and job.server_id is None
    assert job.attempt == 0 and await attempt_rows(job) == 0
    assert (await db(Server.objects.get)(name="gpu1")).status == "online", "it answered the lookup"


async def test_a_prompt_with_no_answer_from_an_unreachable_server_stays_bound_to_it():
    calls = {"prompt": 0}

    def prompt(request: httpx.Request) -> httpx.Response:
        calls["prompt"] += 1
        raise httpx.ReadTimeout("no answer", request=request)

    job, watcher = await dispatch(routes(prompt=prompt, queue=refused, history=refused))
    assert job.status == "pending" and job.server_id is not None and job.attempt == 1
    assert (await db(Server.objects.get)(name="gpu1")).status == "offline"
    # The relay's pass over bound jobs submits it again: it is looked up first, never re-posted
    # while the server cannot tell whether it has it.
    ticket = (await db(attempts.bound_tickets)([job.server_id]))[0]
    await watcher.submit(ticket)
    await watcher.stop()
    assert calls["prompt"] == 1
    job = await db(Job.objects.get)(id=job.id)
    assert job.status == "pending" and job.server_id is not None


async def test_a_server_that_failed_takes_work_again_only_after_three_answers_in_a_row():
    server = await db(make_server)("gpu1", url=URL)
    woken = []
    client = ComfyClient(URL, transport=httpx.MockTransport(routes()))
    watcher = ServerWatcher(
        server.id, "gpu1", URL, "cid", client=client, holder=TEST_HOLDER, on_free=lambda: woken.append(1)
    )
    await watcher.answered()
    assert woken == [1], "first seen: trusted at once, and dispatch is woken"
    await watcher.unreachable("reset by peer")
    for _ in range(2):
        await watcher.answered()
        row = await db(Server.objects.get)(id=server.id)
        assert row.status == "offline" and row.offline_since is not None, "not yet: failover still counts"
    await watcher.answered()
    await watcher.answered()
    await watcher.stop()
    row = await db(Server.objects.get)(id=server.id)
    assert row.status == "online" and row.offline_since is None and row.flaps == 1
    assert woken == [1, 1], "woken once when trusted again, not on every probe"
