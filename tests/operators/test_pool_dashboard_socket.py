"""/ws/pool/: staff get a full snapshot at once, every second, and right after an action;
everyone else is refused before any data is sent."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from comfyweb.asgi import application
from jobs.core import service
from jobs.core.models import Server
from jobs.operators import dashboard, dashboard_consumer, pool_actions
from tests.factories import make_server, make_session, make_upload

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


def session_of(username: str, *, staff: bool) -> str:
    users = get_user_model().objects
    user = (
        users.create_superuser(username, f"{username}@example.com", "pw")
        if staff
        else users.create_user(username)
    )
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def connect(session_key: str | None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
    if session_key:
        headers.append((b"cookie", f"sessionid={session_key}".encode()))
    return WebsocketCommunicator(application, "/ws/pool/", headers=headers)


async def test_staff_get_a_snapshot_at_once_and_then_every_second():
    await db(make_server)("gpu1", status="online")
    socket = connect(await db(session_of)("olivia", staff=True))
    connected, _ = await socket.connect()
    assert connected
    first = await socket.receive_json_from(timeout=5)
    assert first["type"] == "pool.snapshot"
    assert [s["name"] for s in first["servers"]] == ["gpu1"]
    assert first["servers"][0]["status"] == "online"
    assert set(first) == {"type", "at", "servers", "tabs", "jobs", "waiting"}
    assert first["waiting"] == {"jobs": 0, "no_server": False}
    second = await socket.receive_json_from(timeout=3)
    assert second["type"] == "pool.snapshot" and second["at"] > first["at"]
    await socket.disconnect()


async def test_an_action_pushes_a_snapshot_right_away(monkeypatch):
    monkeypatch.setattr(dashboard_consumer, "INTERVAL", 60.0)  # no periodic snapshot in this test
    monkeypatch.setattr(pool_actions.events, "nudge_relay_sync", lambda *a, **k: None)
    server = await db(make_server)("gpu1", status="online")
    socket = connect(await db(session_of)("olivia", staff=True))
    assert (await socket.connect())[0]
    assert (await socket.receive_json_from(timeout=5))["servers"][0]["draining"] is False
    await asyncio.get_running_loop().run_in_executor(
        None, pool_actions.set_server_flags, [server.id], "drain"
    )
    pushed = await socket.receive_json_from(timeout=2)
    assert pushed["servers"][0]["draining"] is True
    await socket.disconnect()


@pytest.mark.parametrize("who", ["anonymous", "session without login", "non-staff user"])
async def test_everyone_else_is_refused_without_data(who):
    await db(make_server)("gpu1")
    if who == "anonymous":
        session = None
    elif who == "session without login":
        session = await db(make_session)()
    else:
        session = await db(session_of)("mallory", staff=False)
    socket = connect(session)
    connected, code = await socket.connect()
    assert not connected and code == dashboard_consumer.CLOSE_REFUSED
    assert await socket.receive_nothing(timeout=0.3)


async def test_a_revoked_staff_flag_ends_the_socket(monkeypatch):
    monkeypatch.setattr(dashboard_consumer, "INTERVAL", 0.05)
    session = await db(session_of)("olivia", staff=True)
    socket = connect(session)
    assert (await socket.connect())[0]
    await socket.receive_json_from(timeout=5)
    await db(lambda: get_user_model().objects.filter(username="olivia").update(is_staff=False))()
    for _ in range(dashboard_consumer.RECHECK_EVERY + 5):
        message = await socket.receive_output(timeout=3)
        if message["type"] == "websocket.close":
            assert message["code"] == dashboard_consumer.CLOSE_REFUSED
            break
    else:
        pytest.fail("the socket stayed open after staff was revoked")
    assert await db(Server.objects.count)() == 0


@pytest.mark.django_db
def test_the_snapshot_shows_stale_servers_as_unknown_their_flaps_and_jobs_stranded_without_a_server():
    make_server("left-over", watched=False, status="online", status_by="an-earlier-process", flaps=4)
    session = make_session()
    upload = make_upload(session)
    service.submit_job(session, uuid.uuid4(), "invert", {"image": str(upload.id)})
    shot = dashboard.snapshot()
    (server,) = shot["servers"]
    assert server["status"] == "unknown" and server["flaps"] == 4
    assert shot["waiting"] == {"jobs": 1, "no_server": True}
