"""In-process delivery of tab events (jobs.core.delivery): held until the snapshot, in order, once
encoded, one broken socket costing no other its events."""

from __future__ import annotations

import asyncio
import json

import pytest

from jobs.core import delivery, events


class Socket:
    """What a tab consumer hands the registry: frames as they were sent."""

    def __init__(self, fail: bool = False) -> None:
        self.frames: list[dict] = []
        self.fail = fail

    async def send_text(self, text: str) -> None:
        if self.fail:
            raise ConnectionError("socket gone")
        self.frames.append(json.loads(text))


def numbered(n: int) -> dict:
    return {"type": "job.updated", "job": {"id": "j"}, "seq": n}


async def test_events_wait_for_the_snapshot_then_arrive_in_order():
    socket = Socket()
    sink = delivery.Sink(socket.send_text)
    delivery.add("tab.t1", sink)
    try:
        await delivery.deliver("tab.t1", numbered(1))
        assert socket.frames == [], "nothing may overtake the snapshot"
        await socket.send_text(json.dumps({"type": "tab.snapshot", "seq": 0}))
        opening = asyncio.create_task(sink.open())
        await delivery.deliver("tab.t1", numbered(2))  # arrives while the held one goes out
        await opening
        await delivery.deliver("tab.t1", numbered(3))
        assert [f.get("seq") for f in socket.frames] == [0, 1, 2, 3]
    finally:
        delivery.discard("tab.t1", sink)
    assert delivery.local_count() == 0


async def test_every_socket_of_the_tab_gets_it_and_a_broken_one_costs_the_others_nothing():
    good, broken, other = Socket(), Socket(fail=True), Socket()
    sinks = {"tab.a": [delivery.Sink(good.send_text), delivery.Sink(broken.send_text)]}
    sinks["tab.b"] = [delivery.Sink(other.send_text)]
    for group, found in sinks.items():
        for sink in found:
            delivery.add(group, sink)
            sink.held = None  # as after the snapshot
    try:
        await delivery.deliver("tab.a", numbered(7))
        assert good.frames == [numbered(7)] and other.frames == []
    finally:
        for group, found in sinks.items():
            for sink in found:
                delivery.discard(group, sink)


@pytest.mark.django_db
async def test_publish_goes_in_process_with_the_in_memory_layer():
    assert delivery.in_process(), "the embedded default (no REDIS_URL) uses the in-memory layer"
    socket = Socket()
    sink = delivery.Sink(socket.send_text)
    sink.held = None
    delivery.add(events.tab_group("t9"), sink)
    try:
        await events.publish([events.lock_updated("t9", None, 4), events.lock_updated("t8", None, 1)])
        assert socket.frames == [{"type": "lock.updated", "lock": None, "seq": 4}]
    finally:
        delivery.discard(events.tab_group("t9"), sink)
