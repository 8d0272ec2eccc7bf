"""A prompt's moves are taken by its write when the database thread starts it, not when the
write was scheduled (jobs.relay.watcher._write_moves): a quick prompt's start, whose frame
comes while its queueing waits for that thread, is written in the same trip (issue Y)."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
from channels.db import database_sync_to_async

from jobs.core import attempts
from jobs.relay import watcher

# The hop to the database thread checks its connection (nothing is read: the write is a stand-in).
pytestmark = pytest.mark.django_db


async def test_a_start_that_comes_while_the_queueing_waits_for_the_thread_goes_in_its_write(monkeypatch):
    written: list[attempts.Moves] = []

    def advance(job_id, attempt, moves):
        written.append(moves)
        return [], False

    async def publish(found) -> None:
        return None

    monkeypatch.setattr(watcher.attempts, "advance", advance)
    monkeypatch.setattr(watcher.events, "publish", publish)
    server = watcher.ServerWatcher(1, "gpu1", "http://gpu1.invalid:8188", "cid")
    pid, job_id = str(uuid.uuid4()), uuid.uuid4()
    busy, release = threading.Event(), threading.Event()

    def hold_the_thread() -> None:  # another job's write, say
        busy.set()
        release.wait(5)

    held = asyncio.ensure_future(database_sync_to_async(hold_the_thread)())
    try:
        await asyncio.to_thread(busy.wait, 5)
        first = server._move(pid, job_id, 1, queued=True, number=4.0)
        for _ in range(5):
            await asyncio.sleep(0)  # the write is scheduled and waits for the thread
        second = server._move(pid, job_id, 1, running=True)
        assert second is first, "the start joins the write still waiting"
        release.set()
        await asyncio.wait_for(first, 5)
        assert written == [attempts.Moves(queued=True, prompt_number=4.0, running=True)]

        # Once a write has taken its moves, the next move is the next write.
        third = server._move(pid, job_id, 1, running=True)
        assert third is not first
        await asyncio.wait_for(third, 5)
        assert written[1:] == [attempts.Moves(running=True)]
    finally:
        release.set()
        await held
        await server.stop()
