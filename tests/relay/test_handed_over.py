"""What a submission's thread hands to the relay of its process (jobs.core.handoff) runs in
the relay's own context, not the request's."""

from __future__ import annotations

import asyncio
import contextvars

from jobs.relay.loop import Relay

request_state: contextvars.ContextVar[str] = contextvars.ContextVar("request_state", default="the relay's")


async def test_a_callback_asked_for_from_a_requests_thread_runs_in_the_relays_context():
    """A request's context carries its after-hop queue and asgiref's thread of record; a
    relay task inheriting them held its state writes until the job's end (found by
    tests/faults: a running job read as pending)."""
    relay = Relay(poll_interval=60)
    relay._loop = asyncio.get_running_loop()
    relay._context = contextvars.copy_context()  # as Relay.run takes it
    seen: asyncio.Future[str] = relay._loop.create_future()

    def in_the_requests_thread() -> None:
        request_state.set("the request's")
        relay._soon(lambda: seen.set_result(request_state.get()))

    await asyncio.to_thread(in_the_requests_thread)
    assert await asyncio.wait_for(seen, 5) == "the relay's"
