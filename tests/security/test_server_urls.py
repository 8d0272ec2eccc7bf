"""ComfyUI server URLs are for staff only (SPEC §4: JOB.server is the name, never the URL).

A tab locked to a server, with a job running there and a finished one, is looked at through
every non-staff window: pages, API, OpenAPI, /healthz and the tab socket's snapshot.
"""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from comfyweb.asgi import application
from jobs.core.models import Job, Server, Tab, Upload, Workflow
from tests.factories import make_upload
from tests.security.clients import browser

SECRET_HOST = "secret-gpu-7.internal"
SECRET_URL = f"http://{SECRET_HOST}:8188"


def locked_tab(session_key: str) -> tuple[Server, Tab, Job]:
    server = Server.objects.create(name="gpu-a", url=SECRET_URL, status="online", last_seen=timezone.now())
    tab = Tab.objects.create(
        id=uuid.uuid4(), session_key=session_key, server=server, locked_at=timezone.now()
    )
    image = make_upload(session_key)
    invert = Workflow.objects.get(slug="invert")
    job = Job.objects.create(
        tab=tab, session_key=session_key, workflow=invert, params={"image": str(image.id)},
        status="running", server=server, attempt=1,
    )  # fmt: skip
    Job.objects.create(
        tab=tab, session_key=session_key, workflow=invert, params={"image": str(image.id)},
        status="failed", server=server, attempt=1,
        error={"code": "execution_error", "message": "The server reported an error.", "node": "2"},
    )  # fmt: skip
    return server, tab, job


def leaks(text: str) -> bool:
    return SECRET_HOST in text


@pytest.mark.django_db
def test_no_server_url_in_any_non_staff_http_answer():
    client = browser()
    _, tab, job = locked_tab(client.session.session_key)
    upload = Upload.objects.get()
    answers = {
        path: client.get(path)
        for path in (
            "/",
            "/gallery/",
            "/healthz",
            "/api/workflows/",
            "/api/openapi.json",
            "/api/jobs/",
            f"/api/jobs/?tab={tab.id}",
            f"/api/jobs/{job.id}/",
            f"/api/tabs/{tab.id}/",
            f"/files/uploads/{upload.id}/",
        )
    }
    assert client.get(f"/api/tabs/{tab.id}/").json()["lock"]["server"] == "gpu-a", "the name is shown"
    for path, answer in answers.items():
        assert answer.status_code == 200, path
        body = b"".join(answer.streaming_content) if answer.streaming else answer.content
        assert not leaks(body.decode("utf-8", "replace")), f"{path} shows a server URL"
        assert not any(leaks(str(value)) for value in answer.headers.values()), path


@pytest.mark.django_db
def test_staff_do_see_server_urls_in_the_admin():
    """The control for the test above: the URL is findable where it belongs."""
    server = Server.objects.create(name="gpu-a", url=SECRET_URL)
    operator = Client()
    operator.force_login(User.objects.create_superuser("op", password="x"))
    page = operator.get(f"/admin/jobs/server/{server.id}/change/")
    assert page.status_code == 200 and leaks(page.content.decode())
    assert Client().get(f"/admin/jobs/server/{server.id}/change/").status_code == 302


@pytest.mark.django_db(transaction=True)
async def test_no_server_url_in_the_tab_snapshot():
    client = await database_sync_to_async(browser)()
    session_key = client.session.session_key
    _, tab, _ = await database_sync_to_async(locked_tab)(session_key)
    socket = WebsocketCommunicator(
        application,
        f"/ws/tabs/{tab.id}/",
        headers=[
            (b"origin", b"http://127.0.0.1:8000"),
            (b"host", b"127.0.0.1:8000"),
            (b"cookie", f"sessionid={session_key}".encode()),
        ],
    )
    connected, _ = await socket.connect()
    assert connected
    snapshot = await socket.receive_from(timeout=5)
    assert '"tab.snapshot"' in snapshot and '"gpu-a"' in snapshot
    assert not leaks(snapshot)
    await socket.send_json_to({"type": "tab.resync"})
    assert not leaks(await socket.receive_from(timeout=5))
    await socket.disconnect()
