"""The inputs a watcher has sent to its server (jobs.relay.inputs): sent once while fresh,
sent again after a failure, an expiry or a reconnect."""

from __future__ import annotations

import asyncio

import pytest

from jobs.relay.inputs import SentInputs, input_name


class Server:
    """Counts uploads; each answers with the name ComfyUI would put in the prompt."""

    def __init__(self, fail: int = 0, delay: float = 0.0) -> None:
        self.calls: list[str] = []
        self.fail = fail
        self.delay = delay

    def upload(self, name: str):
        async def sending() -> str:
            self.calls.append(name)
            await asyncio.sleep(self.delay)
            if self.fail:
                self.fail -= 1
                raise ConnectionError("refused")
            return f"{name} [input]"

        return sending


def test_an_input_is_named_by_its_bytes_with_its_stored_extension():
    assert input_name("uploads/ab12.webp", "f" * 64) == f"comfyweb-{'f' * 24}.webp"


async def test_an_input_sent_ahead_is_not_sent_again_by_its_job_even_while_on_its_way():
    server, sent = Server(delay=0.05), SentInputs()
    sent.send("a.png", server.upload("a.png"))  # ahead of the job, not awaited
    assert "a.png" in sent
    assert await sent.value("a.png", server.upload("a.png")) == "a.png [input]"
    assert await sent.value("a.png", server.upload("a.png")) == "a.png [input]", "a second job"
    assert server.calls == ["a.png"]


async def test_a_failed_upload_is_forgotten_and_the_job_sends_its_own():
    server, sent = Server(fail=1), SentInputs()
    ahead = sent.send("a.png", server.upload("a.png"))
    with pytest.raises(ConnectionError):
        await ahead
    assert "a.png" not in sent
    assert await sent.value("a.png", server.upload("a.png")) == "a.png [input]"
    assert server.calls == ["a.png", "a.png"]


async def test_a_job_waiting_on_an_upload_that_fails_sends_its_own():
    server, sent = Server(fail=1, delay=0.02), SentInputs()
    sent.send("a.png", server.upload("a.png"))
    assert await sent.value("a.png", server.upload("a.png")) == "a.png [input]"
    assert server.calls == ["a.png", "a.png"]


async def test_the_jobs_own_upload_failing_is_its_error():
    server, sent = Server(fail=1), SentInputs()
    with pytest.raises(ConnectionError):
        await sent.value("a.png", server.upload("a.png"))


async def test_an_old_upload_is_sent_again_and_the_oldest_names_are_dropped():
    server = Server()
    stale = SentInputs(fresh_for=-1.0)
    await stale.value("a.png", server.upload("a.png"))
    await stale.value("a.png", server.upload("a.png"))
    assert server.calls == ["a.png", "a.png"]
    few = SentInputs(kept=2)
    for name in ("a.png", "b.png", "c.png"):
        await few.value(name, server.upload(name))
    assert "a.png" not in few and "b.png" in few and "c.png" in few


async def test_clear_forgets_everything_and_a_cancelled_caller_leaves_the_upload_running():
    server, sent = Server(delay=0.05), SentInputs()
    waiting = asyncio.ensure_future(sent.value("a.png", server.upload("a.png")))
    await asyncio.sleep(0.01)
    waiting.cancel()
    await asyncio.sleep(0.08)
    assert "a.png" in sent, "the upload went on for the next job"
    assert await sent.value("a.png", server.upload("a.png")) == "a.png [input]"
    assert server.calls == ["a.png"]
    sent.clear()
    assert "a.png" not in sent


async def test_cancel_stops_the_uploads_under_way():
    server, sent = Server(delay=1.0), SentInputs()
    upload = sent.send("a.png", server.upload("a.png"))
    await asyncio.sleep(0)
    sent.cancel()
    with pytest.raises(asyncio.CancelledError):
        await upload
    assert "a.png" not in sent
