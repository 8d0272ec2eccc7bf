"""SPEC §5 with Channels' WebsocketCommunicator: snapshot first, then the tab's own events."""

import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from comfyweb.asgi import application
from jobs.core import events, locks, service
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


def lock_event(tab: str, seq: int):
    return events.lock_updated(tab, {"server": "sim-1", "since": "2026-12-01T00:00:00Z"}, seq)


async def overtaken_then_in_order(session: str) -> None:
    """The relay's change (seq 2) published before the web process's own (seq 1), as happens
    when the relay acts on a commit whose event has not left yet: the page hears 1, then 2."""
    socket, tab, _ = await open_tab(session)
    await events.publish([lock_event(tab, 2)])
    assert await socket.receive_nothing(timeout=0.2), "seq 2 waits for seq 1"
    await events.publish([lock_event(tab, 1)])
    assert [(await socket.receive_json_from())["seq"] for _ in range(2)] == [1, 2]
    await socket.disconnect()


async def test_numbered_events_reach_the_page_in_seq_order():
    await overtaken_then_in_order(await database_sync_to_async(make_session)())


@pytest.fixture
def redis_layer(settings):
    from tests.services import redis_server

    with redis_server() as url:
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [{"address": url}]},
            }
        }
        yield url


@pytest.mark.integration
async def test_numbered_events_through_redis_reach_the_page_in_seq_order(redis_layer):
    from jobs.core import delivery

    assert not delivery.in_process(), "the tab's socket takes its events from Redis"
    await overtaken_then_in_order(await database_sync_to_async(make_session)())


async def test_a_lost_event_costs_the_page_a_fresh_snapshot_not_a_gap(monkeypatch):
    from jobs.core import delivery

    monkeypatch.setattr(delivery, "GAP_WAIT", 0.1)
    session = await database_sync_to_async(make_session)()
    upload = await database_sync_to_async(make_upload)(session)
    socket, tab, _ = await open_tab(session)
    # Committed with seq 1, but its event never comes (a layer delivers at most once).
    await database_sync_to_async(service.submit_job)(session, tab, "invert", {"image": str(upload.id)})
    await events.publish([lock_event(tab, await database_sync_to_async(locks.bump_seq)(tab))])
    snapshot = await socket.receive_json_from(timeout=2)
    assert snapshot["type"] == "tab.snapshot" and snapshot["seq"] == 2 and len(snapshot["jobs"]) == 1
    assert await socket.receive_nothing(timeout=0.2), "seq 2 is in the snapshot"
    await socket.disconnect()
