"""SPEC §5 with Channels' WebsocketCommunicator: snapshot first, then the tab's own events."""

import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from comfyweb.asgi import application
from jobs.core import events, service
from tests.factories import make_session, make_upload

pytestmark = pytest.mark.django_db(transaction=True)


def connect(session_key: str | None, tab: str, origin: str = "http://127.0.0.1:8000"):
    headers = [(b"origin", origin.encode()), (b"host", b"127.0.0.1:8000")]
    if session_key:
        headers.append((b"cookie", f"sessionid={session_key}".encode()))
    return WebsocketCommunicator(application, f"/ws/tabs/{tab}/", headers=headers)


async def open_tab(session_key: str, tab: str | None = None):
    tab = tab or str(uuid.uuid4())
    socket = connect(session_key, tab)
    connected, _ = await socket.connect()
    assert connected
    snapshot = await socket.receive_json_from()
    return socket, tab, snapshot


async def test_snapshot_comes_first():
    session = await database_sync_to_async(make_session)()
    socket, tab, snapshot = await open_tab(session)
    assert snapshot == {"type": "tab.snapshot", "tab": tab, "lock": None, "jobs": [], "seq": 0}
    await socket.disconnect()


async def test_submit_over_the_socket_answers_with_the_ref():
    session = await database_sync_to_async(make_session)()
    upload = await database_sync_to_async(make_upload)(session)
    socket, tab, _ = await open_tab(session)
    await socket.send_json_to(
        {"type": "job.submit", "workflow": "invert", "params": {"image": str(upload.id)}, "ref": "r1"}
    )
    message = await socket.receive_json_from()
    assert message["type"] == "job.updated", message
    assert message["ref"] == "r1" and message["seq"] == 1
    assert message["job"]["status"] == "pending" and message["job"]["tab"] == tab
    await socket.send_json_to({"type": "job.submit", "workflow": "nope", "ref": "r2"})
    error = await socket.receive_json_from()
    assert error == {"type": "error", "code": "unknown_workflow", "message": error["message"], "ref": "r2"}
    await socket.disconnect()


async def test_events_reach_only_their_tab():
    session = await database_sync_to_async(make_session)()
    mine, my_tab, _ = await open_tab(session)
    other, _, _ = await open_tab(session)
    await events.publish([events.job_progress(my_tab, uuid.uuid4(), 1, 3, "2")])
    assert (await mine.receive_json_from())["type"] == "job.progress"
    assert await other.receive_nothing(timeout=0.2)
    await mine.disconnect()
    await other.disconnect()


async def test_a_foreign_session_cannot_use_the_tab():
    alice = await database_sync_to_async(make_session)()
    bob = await database_sync_to_async(make_session)()
    socket, tab, _ = await open_tab(alice)
    intruder = connect(bob, tab)
    await intruder.connect()
    refused = await intruder.receive_json_from()
    assert refused["type"] == "error" and refused["code"] == "tab_taken"
    assert (await intruder.receive_output())["type"] == "websocket.close"
    await socket.disconnect()


async def test_no_session_is_refused():
    socket = connect(None, str(uuid.uuid4()))
    await socket.connect()
    assert (await socket.receive_json_from())["code"] == "no_session"


async def test_foreign_origin_is_rejected():
    session = await database_sync_to_async(make_session)()
    socket = connect(session, str(uuid.uuid4()), origin="http://evil.example")
    connected, _ = await socket.connect()
    assert not connected


@pytest.mark.parametrize(
    "frame",
    ["not json", "[1, 2]", '{"no": "type"}', '{"type": "job.explode"}', '{"type": 5}'],
)
async def test_malformed_messages_get_an_error_and_the_socket_stays_open(frame):
    session = await database_sync_to_async(make_session)()
    socket, _, _ = await open_tab(session)
    await socket.send_to(text_data=frame)
    assert (await socket.receive_json_from())["type"] == "error"
    await socket.send_to(bytes_data=b"\x00\x01")
    assert (await socket.receive_json_from())["type"] == "error"
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from() == {"type": "pong"}
    await socket.disconnect()


async def test_resync_sends_a_fresh_snapshot():
    session = await database_sync_to_async(make_session)()
    upload = await database_sync_to_async(make_upload)(session)
    socket, tab, _ = await open_tab(session)
    await database_sync_to_async(service.submit_job)(session, tab, "invert", {"image": str(upload.id)})
    await socket.send_json_to({"type": "tab.resync"})
    snapshot = await socket.receive_json_from()
    assert snapshot["type"] == "tab.snapshot" and snapshot["seq"] == 1 and len(snapshot["jobs"]) == 1
    await socket.disconnect()
