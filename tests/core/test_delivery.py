"""In-process delivery of tab events (jobs.core.delivery): held until the snapshot, in order, once
encoded, one broken socket costing no other its events."""

from __future__ import annotations

import asyncio
import json

import pytest

from jobs.core import delivery, events, instruments


class Socket:
    """What a tab consumer hands the registry: frames as they were sent."""

    def __init__(self, fail: bool = False) -> None:
        self.frames: list[dict] = []
        self.fail = fail

    async def send_text(self, text: str, seq: object = None) -> None:
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


class Consumer:
    """A socket's consumer as Membership sees it: no channel layer (events in process), a
    socket, and a state read that counts its calls."""

    channel_layer = None

    def __init__(self, current: int = 2, fail_reads: int = 0) -> None:
        self.socket = Socket()
        self.current, self.fail_reads, self.reads = current, fail_reads, 0

    async def recover(self) -> int:
        self.reads += 1
        if self.reads <= self.fail_reads:
            raise ConnectionError("database gone")
        await self.socket.send_text(json.dumps({"type": "tab.snapshot", "seq": self.current}))
        return self.current


async def joined(consumer: Consumer, group: str) -> delivery.Membership:
    membership = delivery.Membership(group, consumer, consumer.socket.send_text, consumer.recover)
    await membership.join()
    await membership.open(0)
    return membership


def seqs(socket: Socket) -> list:
    return [(f["type"], f.get("seq")) for f in socket.frames]


def counted(name: str) -> float:
    return instruments.REGISTRY.get_sample_value(f"comfyweb_socket_{name}_total") or 0.0


async def test_numbered_events_reach_the_socket_in_seq_order_whatever_order_they_came_in():
    consumer = Consumer()
    membership = await joined(consumer, "tab.o1")
    early = counted("events_early")
    try:
        await delivery.deliver("tab.o1", numbered(2))  # the relay's change overtook the view's
        await delivery.deliver("tab.o1", {"type": "job.progress", "job": "j"})  # behind seq 2
        await delivery.deliver("tab.o1", numbered(1))
        await delivery.deliver("tab.o1", numbered(1))  # again: stale
        await delivery.deliver("tab.o1", {"type": "job.preview", "job": "j"})  # nothing held: now
        assert seqs(consumer.socket) == [
            ("job.updated", 1),
            ("job.updated", 2),
            ("job.progress", None),
            ("job.preview", None),
        ]
        assert consumer.reads == 0, "an overtaken event is no loss: no state read"
        assert counted("events_early") == early + 1, "operators see it in /metrics"
    finally:
        await membership.leave()


async def test_a_gap_that_outlasts_the_wait_sends_the_state_and_what_follows_it(monkeypatch):
    monkeypatch.setattr(delivery, "GAP_WAIT", 0.05)
    consumer = Consumer(current=2, fail_reads=1)
    membership = await joined(consumer, "tab.o2")
    refreshes = counted("refreshes")
    try:
        for seq in (1, 3):  # 2 is lost
            await delivery.deliver("tab.o2", numbered(seq))
        assert seqs(consumer.socket) == [("job.updated", 1)]
        for _ in range(100):
            if consumer.reads >= 2:
                break
            await asyncio.sleep(0.02)
        assert consumer.reads == 2, "a failed read is tried again after another wait"
        assert counted("refreshes") == refreshes + 2
        await delivery.deliver("tab.o2", numbered(2))  # came after all: the state had it
        await delivery.deliver("tab.o2", numbered(4))
        assert seqs(consumer.socket) == [
            ("job.updated", 1),
            ("tab.snapshot", 2),
            ("job.updated", 3),
            ("job.updated", 4),
        ]
    finally:
        await membership.leave()


async def test_a_socket_that_leaves_reads_no_state_for_its_gap(monkeypatch):
    monkeypatch.setattr(delivery, "GAP_WAIT", 0.05)
    consumer = Consumer()
    membership = await joined(consumer, "tab.o3")
    await delivery.deliver("tab.o3", numbered(2))
    await membership.leave()
    await asyncio.sleep(0.15)
    assert consumer.reads == 0 and consumer.socket.frames == []
