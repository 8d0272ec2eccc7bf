"""A burst of progress frames for one job costs one message to its tab, carrying the latest
(jobs.relay.watcher): the relay hop stays short however fast a server sends."""

from __future__ import annotations

import asyncio
import uuid

from jobs.comfy import messages as m
from jobs.core import events
from jobs.relay import watcher
from jobs.relay.tracking import Tracked


async def test_a_burst_is_one_message_with_the_latest_value_and_the_next_turn_sends_again(monkeypatch):
    sent: list[list[events.Event]] = []

    async def record(found: list[events.Event]) -> None:
        sent.append(found)

    monkeypatch.setattr(watcher.events, "publish", record)
    server = watcher.ServerWatcher(1, "gpu1", "http://gpu1.invalid:8188", "cid")
    jobs = {str(uuid.uuid4()): uuid.uuid4() for _ in range(2)}
    for pid, tab in jobs.items():
        server.tracked[pid] = Tracked(uuid.UUID(pid), tab, 1, 3, titles={"3": "KSampler"})
        server.tracked[pid].started = True
    try:
        first, second = list(jobs)
        for step in range(1, 21):  # one turn of the loop: no await suspends in between
            await server.handle(m.Progress(prompt_id=first, node="3", value=step, max=20))
        await server.handle(m.Progress(prompt_id=second, node="3", value=5, max=20))
        for _ in range(3):
            await asyncio.sleep(0)
        assert len(sent) == 1, "one publish per turn"
        by_job = {message["job"]: message for _, message in sent[0]}
        assert (
            set(by_job) == set(jobs)
            and by_job[first]["value"] == 1.0
            and by_job[first]["title"] == "KSampler"
        )
        assert by_job[second]["value"] == 0.25

        await server.handle(m.Progress(prompt_id=first, node="3", value=10, max=20))
        for _ in range(3):
            await asyncio.sleep(0)
        assert len(sent) == 2 and sent[1][0][1]["value"] == 0.5
    finally:
        await server.stop()


async def test_a_queue_place_goes_out_after_the_queued_state_still_being_written(monkeypatch):
    """The JOB of a `queued` event carries no place yet: a place sent before it would be
    overwritten by it on the page, and it is not sent again while it does not change."""
    from jobs.comfy import QueueState

    sent: list[str] = []

    async def record(found: list[events.Event]) -> None:
        sent.extend(
            message.get("type") + ("+place" if "queue_position" in message else "") for _, message in found
        )

    monkeypatch.setattr(watcher.events, "publish", record)
    server = watcher.ServerWatcher(1, "gpu1", "http://gpu1.invalid:8188", "cid")
    pid, tab = str(uuid.uuid4()), uuid.uuid4()
    server.tracked[pid] = Tracked(uuid.UUID(pid), tab, 1, 3)
    written = asyncio.Event()

    async def queued_write() -> None:  # the DB write of "queued", then its event
        await written.wait()
        await record([(events.tab_group(tab), {"type": "job.updated", "job": {"id": pid}})])

    try:
        server._in_order(pid, queued_write())
        await server._publish_positions(QueueState(running=["other"], pending=[pid]))
        assert sent == [], "the place waits for the state change in flight"
        written.set()
        for _ in range(5):
            await asyncio.sleep(0)
        assert sent == ["job.updated", "job.progress+place"]
    finally:
        await server.stop()
