"""events.after_hop: what a request's sync path publishes goes out on the loop after its hop,
one request's sends after another's, and even when the request's client left mid-hop."""

import asyncio

from jobs.core import events


def _queue(label: str, order: list[str], gate: asyncio.Event | None = None):
    async def send() -> None:
        order.append(f"{label} start")
        if gate is not None:
            await gate.wait()
        order.append(f"{label} end")

    return send


async def test_a_later_requests_sends_wait_until_an_earlier_ones_are_out():
    order: list[str] = []
    gate = asyncio.Event()

    async def hop(label: str, gated: bool) -> str:
        events._to_loop(_queue(label, order, gate if gated else None))  # as a view's publish_sync does
        return label

    first = asyncio.ensure_future(events.after_hop(lambda: hop("first", True)))
    second = asyncio.ensure_future(events.after_hop(lambda: hop("second", False)))
    for _ in range(20):
        await asyncio.sleep(0)
    assert order == ["first start"], "the second request's sends (a relay nudge, say) wait"
    gate.set()
    assert await asyncio.gather(first, second) == ["first", "second"]
    assert order == ["first start", "first end", "second start", "second end"]


async def test_a_request_cancelled_mid_hop_still_sends_when_its_hop_ends():
    order: list[str] = []
    hop_may_end = asyncio.Event()

    async def hop() -> str:
        await hop_may_end.wait()  # the worker thread runs on after the client left
        events._to_loop(_queue("committed", order))
        return "answer"

    request = asyncio.ensure_future(events.after_hop(hop))
    await asyncio.sleep(0)
    request.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    assert request.cancelled() and order == []
    hop_may_end.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert order == ["committed start", "committed end"]


async def test_a_send_that_fails_does_not_keep_the_others_or_the_answer(caplog):
    order: list[str] = []

    async def broken() -> None:
        raise RuntimeError("layer down")

    async def hop() -> str:
        events._to_loop(broken)
        events._to_loop(_queue("next", order))
        return "answer"

    assert await events.after_hop(hop) == "answer"
    assert order == ["next start", "next end"]
    assert "could not send a request's events" in caplog.text


async def test_through_a_channel_layer_the_worker_sends_before_the_next_commit(monkeypatch):
    """With Redis, the relay is another process and a send waits on the network: the worker
    sends as before, so no later request commits and nudges the relay while this request's
    events are on their way (the relay's events for its tab could overtake them)."""
    from asgiref.sync import sync_to_async

    from jobs.core import delivery

    monkeypatch.setattr(delivery, "in_process", lambda: False)
    order: list[str] = []

    def view() -> str:
        events._to_loop(_queue("sent", order))
        order.append("view returns")
        return "answer"

    assert await events.after_hop(lambda: sync_to_async(view)()) == "answer"
    assert order == ["sent start", "sent end", "view returns"]
