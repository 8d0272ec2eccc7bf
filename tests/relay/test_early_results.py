"""Result files fetched on their node's `executed` frame (jobs.relay.early): completion takes
them instead of fetching again, fetches again what failed, and nothing is left open."""

from __future__ import annotations

import asyncio

import pytest

from jobs.comfy import ComfyError, HistoryEntry, TooLarge
from jobs.relay import completion
from jobs.relay.early import EarlyResults

OUTPUT = {"images": [{"filename": "out_00001_.png", "subfolder": "", "type": "output"}]}


class Server:
    """Answers /view with the file's name as its bytes; counts the calls."""

    def __init__(self, fail: int = 0, delay: float = 0.0) -> None:
        self.views: list[str] = []
        self.fail = fail
        self.delay = delay

    async def view_to(self, sink, filename, subfolder="", image_type="output", *, limit):
        self.views.append(filename)
        await asyncio.sleep(self.delay)
        if self.fail:
            self.fail -= 1
            raise ComfyError("reset")
        if len(filename) > limit:
            raise TooLarge(f"larger than {limit} bytes", limit=limit)
        sink.write(filename.encode())
        return len(filename)


def entry(pid: str = "p1", output=OUTPUT) -> HistoryEntry:
    return HistoryEntry(pid, {"9": output}, "success", True, [])


async def read_all(server, ahead) -> list[bytes]:
    async with completion.fetched(server, entry(), ahead) as results:
        found = []
        for result in results:
            result.part.seek(0)
            found.append(result.part.read())
        parts = [r.part for r in results]
    assert all(part.closed for part in parts), "completion closes what it took"
    return found


async def test_a_result_fetched_on_its_executed_frame_is_not_fetched_again_by_completion():
    server = Server(delay=0.01)
    early = EarlyResults(server)
    early.executed("p1", "9", OUTPUT)
    await asyncio.sleep(0)  # under way when the prompt ends
    assert await read_all(server, early.pop("p1")) == [b"out_00001_.png"]
    assert server.views == ["out_00001_.png"]
    assert early.pop("p1") is None, "handed over once"


async def test_a_failed_early_fetch_is_fetched_again_by_completion():
    server = Server(fail=1)
    early = EarlyResults(server)
    early.executed("p1", "9", OUTPUT)
    assert await read_all(server, early.pop("p1")) == [b"out_00001_.png"]
    assert server.views == ["out_00001_.png", "out_00001_.png"]


async def test_a_result_not_fetched_ahead_is_fetched_by_completion():
    server = Server()
    early = EarlyResults(server)
    early.executed("p1", "9", {"images": [{"filename": "other.png", "subfolder": "", "type": "output"}]})
    ahead = early.pop("p1")
    assert await read_all(server, ahead) == [b"out_00001_.png"]
    await asyncio.sleep(0.01)
    ahead.drop()
    assert sorted(server.views) == ["other.png", "out_00001_.png"]


async def test_what_completion_did_not_take_is_closed_or_stopped():
    server = Server(delay=0.05)
    early = EarlyResults(server)
    early.executed("p1", "9", OUTPUT)
    early.executed("p2", "9", OUTPUT)
    await asyncio.sleep(0.1)  # p1 and p2 fetched
    done = early.pop("p1")
    [task] = done.tasks.values()
    part = task.result().part
    done.drop()
    assert part.closed
    early.executed("p3", "9", OUTPUT)
    running = early._prompts["p3"]
    [task] = running.tasks.values()
    early.drop_all()
    await asyncio.sleep(0)
    assert task.cancelled() and early.pop("p2") is None


async def test_texts_are_not_fetched_and_fetches_stop_at_the_cap():
    server = Server()
    early = EarlyResults(server, kept=2)
    early.executed("p1", "9", {"text": ["hello"]})
    for pid in ("p2", "p3", "p4"):
        early.executed(pid, "9", OUTPUT)
    await asyncio.sleep(0.01)
    assert server.views == ["out_00001_.png"] * 2, "a text takes no place; two prompts fill the cap"
    assert early.pop("p1") is None and early.pop("p4") is None


async def test_a_result_too_large_ahead_is_refused_without_a_second_download(settings):
    settings.COMFYWEB_MAX_OUTPUT_BYTES = 4
    server = Server()
    early = EarlyResults(server)
    early.executed("p1", "9", OUTPUT)
    with pytest.raises(completion.OutputRefused, match=r"out_00001_\.png"):
        await read_all(server, early.pop("p1"))
    assert server.views == ["out_00001_.png"]
