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
from jobs.relay.tracking import Tracked

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


@pytest.fixture
def watched(monkeypatch):
    """A watcher with a tracked prompt, recording what the state writes and the completion
    were handed."""
    written: list[attempts.Moves] = []
    completed: list[attempts.Moves | None] = []
    ends = {"done": True, "takes": True}

    def advance(job_id, attempt, moves):
        written.append(moves)
        return [], False

    async def publish(found) -> None:
        return None

    async def complete(client, tracked, name, on_missing_model=None, take_moves=lambda: None, ahead=None):
        if ends["takes"]:  # it writes an end: it takes the moves in that trip
            completed.append(await database_sync_to_async(take_moves)())
        return ends["done"]

    monkeypatch.setattr(watcher.attempts, "advance", advance)
    monkeypatch.setattr(watcher.events, "publish", publish)
    monkeypatch.setattr(watcher.completion, "complete", complete)
    server = watcher.ServerWatcher(1, "gpu1", "http://gpu1.invalid:8188", "cid")
    pid, job_id = str(uuid.uuid4()), uuid.uuid4()
    server.tracked[pid] = Tracked(job_id, uuid.uuid4(), 1, 3)
    return server, pid, job_id, written, completed, ends


async def _settled(server, pid) -> None:
    while pid in server._chains:
        await asyncio.gather(server._chains[pid], return_exceptions=True)


async def test_a_prompt_that_ends_within_the_hold_has_its_moves_written_with_its_end(watched):
    server, pid, job_id, written, completed, _ = watched
    try:
        server._move(pid, job_id, 1, queued=True, number=2.0)
        server._move(pid, job_id, 1, running=True)
        await asyncio.sleep(0)
        server.complete_later(pid)  # the terminal frame, within MOVES_HOLD
        await _settled(server, pid)
        assert written == [], "no trip of their own"
        assert completed == [attempts.Moves(queued=True, prompt_number=2.0, running=True)]
    finally:
        await server.stop()


async def test_moves_go_alone_after_the_hold_or_after_a_completion_that_wrote_no_end(watched):
    server, pid, job_id, written, completed, ends = watched
    try:
        server._move(pid, job_id, 1, queued=True, number=1.0)
        await asyncio.sleep(watcher.MOVES_HOLD * 4)
        assert written == [attempts.Moves(queued=True, prompt_number=1.0)], "written once the hold is over"

        # No entry in /history yet, say: the completion writes no end (the sweep will), so
        # the start it was to carry is written on its own right after it.
        ends.update(done=False, takes=False)
        server._move(pid, job_id, 1, running=True)
        await asyncio.sleep(0)
        server.complete_later(pid)
        await _settled(server, pid)
        assert completed == [] and written[1:] == [attempts.Moves(running=True)]
        assert not server._moves, "nothing left behind"
    finally:
        await server.stop()
