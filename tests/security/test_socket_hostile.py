"""The tab socket under hostile use (SPEC §5): allowed origins only, tab ids bound to their
session, every bad frame answered, oversize answered and closed, submissions rate limited."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from comfyweb.asgi import application
from jobs.core import service
from jobs.core.models import Job
from jobs.web import consumers
from tests.factories import make_session, make_upload

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


def connect(session_key: str | None, tab: str, origin: str | None = "http://127.0.0.1:8000"):
    headers = [(b"host", b"127.0.0.1:8000")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if session_key:
        headers.append((b"cookie", f"sessionid={session_key}".encode()))
    return WebsocketCommunicator(application, f"/ws/tabs/{tab}/", headers=headers)


async def open_tab(session_key: str, tab: str | None = None):
    socket = connect(session_key, tab or str(uuid.uuid4()))
    connected, _ = await socket.connect()
    assert connected
    assert (await socket.receive_json_from(timeout=5))["type"] == "tab.snapshot"
    return socket


async def still_open(socket) -> None:
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=5) == {"type": "pong"}


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "http://127.0.0.1.evil.example",
        "http://localhost.evil.example:8000",
        "null",
        "file://",
        "",
        None,
    ],
)
async def test_only_allowed_origins_may_open_a_tab_socket(origin):
    session = await db(make_session)()
    socket = connect(session, str(uuid.uuid4()), origin=origin)
    connected, _ = await socket.connect()
    assert not connected
    await socket.disconnect()


async def test_an_allowed_origin_on_another_port_is_still_an_allowed_host():
    """ALLOWED_HOSTS names hosts, not ports (Django's rule, which the validator follows)."""
    session = await db(make_session)()
    socket = connect(session, str(uuid.uuid4()), origin="http://localhost:9999")
    connected, _ = await socket.connect()
    assert connected
    await socket.disconnect()


@pytest.mark.parametrize("tab", ["not-a-uuid", "..", "%2e%2e", "0" * 32 + "0", "%00", "x" * 5000])
async def test_a_malformed_tab_id_is_refused(tab):
    session = await db(make_session)()
    socket = connect(session, tab)
    connected, _ = await socket.connect()
    assert connected, "the route matches any segment: the consumer refuses it"
    refused = await socket.receive_json_from(timeout=5)
    assert refused["type"] == "error" and refused["code"] == "invalid_id"
    assert (await socket.receive_output(timeout=5))["type"] == "websocket.close"
    await socket.disconnect()


async def test_a_foreign_session_presenting_a_tab_id_is_refused_and_learns_nothing():
    alice, bob = await db(make_session)(), await db(make_session)()
    image = await db(make_upload)(alice)
    mine = await open_tab(alice)
    tab = mine.scope["path"].split("/")[3]
    await mine.send_json_to({"type": "job.submit", "workflow": "invert", "params": {"image": str(image.id)}})
    assert (await mine.receive_json_from(timeout=5))["type"] == "job.updated"
    intruder = connect(bob, tab)
    await intruder.connect()
    refused = await intruder.receive_json_from(timeout=5)
    assert refused == {"type": "error", "code": "tab_taken", "message": refused["message"], "ref": None}
    assert (await intruder.receive_output(timeout=5))["type"] == "websocket.close"
    assert await mine.receive_nothing(timeout=0.1)
    await mine.disconnect()


async def test_another_sessions_job_cannot_be_cancelled_over_a_socket():
    alice, bob = await db(make_session)(), await db(make_session)()
    image = await db(make_upload)(alice)
    job, _ = await db(service.submit_job)(alice, str(uuid.uuid4()), "invert", {"image": str(image.id)})
    socket = await open_tab(bob)
    await socket.send_json_to({"type": "job.cancel", "job": str(job.id), "ref": "c"})
    error = await socket.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == "not_found" and error["ref"] == "c"
    assert (await db(Job.objects.get)(id=job.id)).status == "pending"
    await socket.disconnect()


async def test_another_sessions_upload_cannot_be_submitted_over_a_socket():
    alice, bob = await db(make_session)(), await db(make_session)()
    image = await db(make_upload)(alice)
    socket = await open_tab(bob)
    await socket.send_json_to(
        {"type": "job.submit", "workflow": "invert", "params": {"image": str(image.id)}}
    )
    assert (await socket.receive_json_from(timeout=5))["code"] == "invalid_param"
    assert await db(Job.objects.count)() == 0
    await socket.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        "null",
        "42",
        '"ping"',
        '{"no": "type"}',
        '{"type": null}',
        '{"type": ["ping"]}',
        '{"type": "job.explode"}',
        '{"type": "' + "x" * 10_000 + '"}',
        "[" * 50_000,
        '{"a":' * 12_000,
        '{"type": "job.submit"}',
        '{"type": "job.submit", "workflow": {"slug": "invert"}}',
        '{"type": "job.submit", "workflow": "' + "w" * 5000 + '"}',
        '{"type": "job.submit", "workflow": "invert", "params": [1]}',
        '{"type": "job.submit", "workflow": "invert", "params": {"image": {"$ne": null}}}',
        '{"type": "job.submit", "workflow": "blur", "params": {"blur_radius": NaN}}',
        '{"type": "job.submit", "workflow": "blur", "params": {"blur_radius": 1e999}}',
        '{"type": "job.cancel"}',
        '{"type": "job.cancel", "job": {"id": 1}}',
        '{"type": "job.cancel", "job": "../../etc/passwd"}',
        '{"type": "ping", "ref": {"x": 1}}',
        "\ud800",
    ],
    ids=lambda frame: repr(frame)[:40],
)
async def test_a_malformed_frame_gets_an_error_and_the_socket_stays_open(frame):
    session = await db(make_session)()
    socket = await open_tab(session)
    await socket.send_to(text_data=frame)
    answer = await socket.receive_json_from(timeout=5)
    if frame.startswith('{"type": "ping"'):
        assert answer == {"type": "pong"}
    else:
        assert answer["type"] == "error" and answer["code"] and answer["message"], answer
        assert len(json.dumps(answer)) < 2000, "an error does not echo a large frame back"
    await still_open(socket)
    assert await db(Job.objects.count)() == 0
    await socket.disconnect()


@pytest.mark.parametrize(
    "frame", [b"\x00\x01", b'{"type": "ping"}', bytes(range(256)) * 100], ids=lambda f: repr(f)[:30]
)
async def test_a_binary_frame_gets_an_error_and_the_socket_stays_open(frame):
    session = await db(make_session)()
    socket = await open_tab(session)
    await socket.send_to(bytes_data=frame)
    answer = await socket.receive_json_from(timeout=5)
    assert answer["type"] == "error" and answer["code"] == "invalid_message"
    await still_open(socket)
    await socket.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        {"text_data": "x" * (consumers.MAX_FRAME + 1)},
        {"text_data": json.dumps({"type": "ping", "pad": "y" * consumers.MAX_FRAME})},
        {"text_data": "é" * (consumers.MAX_FRAME // 2 + 1)},  # few characters, too many bytes
        {"bytes_data": b"\x00" * (consumers.MAX_FRAME + 1)},
    ],
    ids=["ascii", "json", "two-byte-chars", "binary"],
)
async def test_an_oversized_frame_is_answered_and_closed(frame):
    session = await db(make_session)()
    socket = await open_tab(session)
    await socket.send_to(**frame)
    answer = await socket.receive_json_from(timeout=5)
    assert answer["type"] == "error" and answer["code"] == "message_too_large"
    closed = await socket.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": consumers.CLOSE_TOO_BIG}
    await socket.disconnect()
    fresh = await open_tab(session)
    await still_open(fresh)
    await fresh.disconnect()


async def test_a_frame_at_the_limit_is_accepted():
    session = await db(make_session)()
    socket = await open_tab(session)
    frame = json.dumps({"type": "ping", "pad": ""})
    frame = frame[:-2] + "z" * (consumers.MAX_FRAME - len(frame)) + '"}'
    assert len(frame.encode()) == consumers.MAX_FRAME
    await socket.send_to(text_data=frame)
    assert await socket.receive_json_from(timeout=5) == {"type": "pong"}
    await socket.disconnect()


async def test_submissions_are_rate_limited_per_socket(settings):
    settings.COMFYWEB_SUBMIT_BURST = 10
    settings.COMFYWEB_SUBMIT_RATE = 0.01  # no refill within the test
    session = await db(make_session)()
    socket = await open_tab(session)
    codes = []
    for number in range(12):
        await socket.send_json_to({"type": "job.submit", "workflow": "nope", "ref": f"r{number}"})
        answer = await socket.receive_json_from(timeout=5)
        assert answer["ref"] == f"r{number}"
        codes.append(answer["code"])
    assert codes == ["unknown_workflow"] * 10 + ["rate_limited"] * 2
    await still_open(socket)
    other = await open_tab(session)  # another socket has its own bucket
    await other.send_json_to({"type": "job.submit", "workflow": "nope"})
    assert (await other.receive_json_from(timeout=5))["code"] == "unknown_workflow"
    await socket.disconnect()
    await other.disconnect()


async def test_the_rate_limit_refills(settings):
    settings.COMFYWEB_SUBMIT_BURST = 1
    settings.COMFYWEB_SUBMIT_RATE = 2.0  # a token every 0.5 s
    session = await db(make_session)()
    socket = await open_tab(session)
    await socket.send_json_to({"type": "job.submit", "workflow": "nope"})
    assert (await socket.receive_json_from(timeout=5))["code"] == "unknown_workflow"
    await socket.send_json_to({"type": "job.submit", "workflow": "nope"})
    assert (await socket.receive_json_from(timeout=5))["code"] == "rate_limited"
    await asyncio.sleep(0.6)
    await socket.send_json_to({"type": "job.submit", "workflow": "nope"})
    assert (await socket.receive_json_from(timeout=5))["code"] == "unknown_workflow"
    await socket.disconnect()


def test_the_token_bucket():
    now = [100.0]
    bucket = consumers.TokenBucket(burst=10, rate=2.0, clock=lambda: now[0])
    assert [bucket.take() for _ in range(11)] == [True] * 10 + [False]
    now[0] += 0.5
    assert [bucket.take(), bucket.take()] == [True, False]
    now[0] += 1000
    assert sum(bucket.take() for _ in range(20)) == 10, "never more than the burst"


async def test_a_bug_in_a_handler_is_an_internal_error_not_a_lost_socket(monkeypatch):
    session = await db(make_session)()
    socket = await open_tab(session)

    def explode(*args, **kwargs):
        raise RuntimeError("SECRET-INTERNAL-DETAIL")

    monkeypatch.setattr("jobs.core.tabs.tab_snapshot", explode)
    await socket.send_json_to({"type": "tab.resync", "ref": "s"})
    answer = await socket.receive_json_from(timeout=5)
    assert answer["type"] == "error" and answer["code"] == "internal" and answer["ref"] == "s"
    assert "SECRET" not in json.dumps(answer)
    await still_open(socket)
    await socket.disconnect()
