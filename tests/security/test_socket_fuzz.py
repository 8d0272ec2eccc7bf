"""Hypothesis throws random frames at a connected tab socket (SPEC §5).

Every frame gets exactly one JSON answer (an `error`, or the normal answer of a valid frame)
or, when it is over the size limit, an `error` and an orderly close (CLOSE_TOO_BIG). Afterwards a
fresh connection still answers `ping` and a normal job.submit still works.
"""

from __future__ import annotations

import json
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyweb.asgi import application
from jobs.web import consumers
from tests.factories import make_session, make_upload

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async
TYPES = ["job.submit", "job.cancel", "tab.resync", "ping", "job.updated", "tab.snapshot", "", "PING"]
ANSWERS = {"error", "pong", "tab.snapshot", "job.updated"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
messages = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES) | st.text(max_size=20)},
    optional={
        "workflow": st.sampled_from(["invert", "blur", "nope"]) | json_values,
        "params": json_values | st.dictionaries(st.sampled_from(["image", "blur_radius", "x"]), json_values),
        "job": st.uuids().map(str) | json_values,
        "ref": json_values,
    },
)
frames = st.one_of(
    st.builds(lambda m: {"text_data": json.dumps(m)}, messages),
    st.builds(lambda v: {"text_data": json.dumps(v)}, json_values),
    st.builds(lambda t: {"text_data": t}, st.text(min_size=1, max_size=300)),
    st.builds(lambda b: {"bytes_data": b}, st.binary(min_size=1, max_size=300)),
    # Around the size limit, in bytes on the wire.
    st.builds(
        lambda n, c: {"text_data": c * n},
        st.integers(consumers.MAX_FRAME - 2, consumers.MAX_FRAME + 2),
        st.sampled_from(["a", "{"]),
    ),
    st.builds(
        lambda n: {"bytes_data": b"\x00" * n}, st.integers(consumers.MAX_FRAME - 1, consumers.MAX_FRAME + 1)
    ),
)


def frame_size(frame: dict) -> int:
    return len(frame["bytes_data"]) if "bytes_data" in frame else len(frame["text_data"].encode("utf-8"))


def connect(session_key: str, tab: str) -> WebsocketCommunicator:
    headers = [
        (b"origin", b"http://127.0.0.1:8000"),
        (b"host", b"127.0.0.1:8000"),
        (b"cookie", f"sessionid={session_key}".encode()),
    ]
    return WebsocketCommunicator(application, f"/ws/tabs/{tab}/", headers=headers)


async def open_tab(session_key: str, tab: str) -> WebsocketCommunicator:
    socket = connect(session_key, tab)
    connected, _ = await socket.connect()
    assert connected
    assert (await socket.receive_json_from())["type"] == "tab.snapshot"
    return socket


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(frames, min_size=1, max_size=8))
async def test_random_frames_get_an_answer_or_an_orderly_close(batch):
    session = await db(make_session)()
    tab = str(uuid.uuid4())
    socket = await open_tab(session, tab)
    for frame in batch:
        await socket.send_to(**frame)
        answer = await socket.receive_json_from(timeout=5)
        assert answer["type"] in ANSWERS, answer
        if frame_size(frame) > consumers.MAX_FRAME:
            assert answer["code"] == "message_too_large"
            assert await socket.receive_output(timeout=5) == {
                "type": "websocket.close",
                "code": consumers.CLOSE_TOO_BIG,
            }
            break
        if answer["type"] == "error":
            assert isinstance(answer["code"], str) and isinstance(answer["message"], str)
    else:
        assert await socket.receive_nothing(timeout=0.05), "one answer per frame"
    await socket.disconnect()

    # The process is unharmed: a fresh socket of the same tab pings and submits as usual.
    image = await db(make_upload)(session)
    fresh = await open_tab(session, tab)
    await fresh.send_json_to({"type": "ping"})
    assert await fresh.receive_json_from() == {"type": "pong"}
    await fresh.send_json_to(
        {"type": "job.submit", "workflow": "invert", "params": {"image": str(image.id)}, "ref": "ok"}
    )
    accepted = await fresh.receive_json_from()
    if accepted["type"] == "job.updated" and accepted.get("ref") != "ok":
        accepted = await fresh.receive_json_from()  # a fuzzed submit that was valid came first
    assert accepted["type"] == "job.updated" and accepted["ref"] == "ok", accepted
    await fresh.disconnect()
