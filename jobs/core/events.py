"""Messages pushed to a tab's group (SPEC §5) and how they are published.

Service functions return the events of a state change instead of sending them, so the
change commits first and the caller (sync view or async relay) publishes afterwards.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from typing import Any, TypeVar

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from jobs.core import delivery, progress

log = logging.getLogger(__name__)

RELAY_CHANNEL = "comfyweb.relay"

Event = tuple[str, dict[str, Any]]

T = TypeVar("T")

# What a request's sync path sends to the event loop, kept until that path has returned
# (see after_hop). Unset elsewhere: a sync caller then makes its own trip to the loop.
_after_hop: ContextVar[list[Callable[[], Awaitable[None]]] | None] = ContextVar("after_hop", default=None)


def tab_group(tab_id: Any) -> str:
    return f"tab.{tab_id}"


def job_updated(tab_id: Any, job: dict[str, Any], seq: int, ref: str | None = None) -> Event:
    message: dict[str, Any] = {"type": "job.updated", "job": job, "seq": seq}
    if ref is not None:
        message["ref"] = ref
    return tab_group(tab_id), message


def lock_updated(tab_id: Any, lock: dict[str, Any] | None, seq: int) -> Event:
    return tab_group(tab_id), {"type": "lock.updated", "lock": lock, "seq": seq}


def job_progress(
    tab_id: Any,
    job_id: Any,
    value: float,
    maximum: float,
    node: str | None,
    title: str | None = None,
    activity: str | None = None,
) -> Event:
    return job_progress_of(tab_id, job_id, progress.snapshot(value, maximum, node, title, activity))


def job_progress_of(tab_id: Any, job_id: Any, reading: dict[str, Any]) -> Event:
    """A `job.progress` carrying one reading (jobs.core.progress.snapshot)."""
    return tab_group(tab_id), {"type": "job.progress", "job": str(job_id), **reading}


def job_queue(tab_id: Any, job_id: Any, position: int | None, waiting: dict[str, Any] | None = None) -> Event:
    """A job's place in the queue: ComfyWeb's while pending, the server's while queued.

    Sent as an unnumbered `job.progress` (SPEC §5) with an extra `queue_position` key, and
    `waiting`: why a pending job cannot start (no server reachable), or null.
    """
    return tab_group(tab_id), {
        "type": "job.progress",
        "job": str(job_id),
        "value": 0,
        "max": 1,
        "node": None,
        "queue_position": position,
        "waiting": waiting,
    }


def owner_changed(tab_id: Any) -> Event:
    """A sign-in adopted the tab: its sockets reconnect (jobs.web.accounts)."""
    return tab_group(tab_id), {"type": "owner.changed"}


def job_preview(tab_id: Any, job_id: Any, data_url: str) -> Event:
    return tab_group(tab_id), {"type": "job.preview", "job": str(job_id), "image": data_url}


async def publish(events: list[Event]) -> None:
    """Send each event to its tab's sockets: in process when they all live here (see
    jobs.core.delivery), else through the channel layer's groups."""
    if delivery.in_process():
        for group, message in events:
            await delivery.deliver(group, message)
        return
    layer = get_channel_layer()
    for group, message in events:
        try:
            await layer.group_send(group, message)
        except Exception:  # a full or broken layer must not undo a committed change
            log.exception("could not publish %s to %s", message.get("type"), group)


def publish_sync(events: list[Event]) -> None:
    if events:
        _to_loop(functools.partial(publish, events))


async def nudge_relay(reason: str, **data: Any) -> None:
    """Wake the relay (it also polls the database, so a lost nudge only costs latency)."""
    try:
        await get_channel_layer().send(RELAY_CHANNEL, {"type": "relay.nudge", "reason": reason, **data})
    except Exception:
        log.warning("relay nudge %s not delivered; the relay's poll will pick it up", reason)


def nudge_relay_sync(reason: str, **data: Any) -> None:
    _to_loop(functools.partial(nudge_relay, reason, **data))


async def _publish_and_nudge(events: list[Event], reason: str) -> None:
    await publish(events)
    await nudge_relay(reason)


def publish_and_nudge_sync(events: list[Event], reason: str) -> None:
    """publish_sync then nudge_relay_sync, in one trip to the event loop (a view's hot path)."""
    _to_loop(functools.partial(_publish_and_nudge, events, reason))


def _to_loop(send: Callable[[], Awaitable[None]]) -> None:
    """Run `send` on the event loop: after the request's hop when inside one (after_hop),
    else now, waiting for it (async_to_sync)."""
    queued = _after_hop.get()
    if queued is None:
        async_to_sync(send)()
    else:
        queued.append(send)


async def after_hop(hop: Callable[[], Awaitable[T]]) -> T:
    """Await `hop`, a request's sync path run on a worker thread, then publish and nudge on
    the loop what it sent from there (its changes are committed by then).

    A sync caller's trip to the loop (async_to_sync) held the worker, which every request and
    the relay share, for a round trip that cost about as much as the request's own hop
    (issue Y). The events still go out before the request's answer, and in the order of the
    commits: the one worker commits requests and the relay's changes in turn, their hops
    resume here in turn, and each request's sends finish before the next one's start. A
    request whose client leaves mid-hop is cancelled, but its hop runs on; its sends go out
    when it ends.

    Only when the tabs' sockets are in this process. Through a channel layer (Redis) the relay
    is another process that acts on a commit as soon as its pass reads it: deferring the
    sends widens the time in which the relay's next event for the tab (its bind, seq 2) goes
    out before the request's own (seq 1). While this applied to Redis, the quick bench's Redis
    part saw that in 3 of 4 runs under load, and once in a CI run without it; each socket now
    puts such events back in order (jobs.core.ordering), but the wider window would make
    them wait there more often.
    """
    if not delivery.in_process():
        return await hop()  # sent from the worker, as before: no later request commits first
    queued: list[Callable[[], Awaitable[None]]] = []
    token = _after_hop.set(queued)
    try:
        running = asyncio.ensure_future(hop())  # a task: it keeps `queued` in its context
    finally:
        _after_hop.reset(token)
    try:
        return await asyncio.shield(running)
    finally:
        if running.done():
            await _send_in_order(queued)
        else:
            running.add_done_callback(lambda _: _in_background(_send_in_order(queued)))


# Per event loop (a test may run several): sends of one request finish before the next's start.
_send_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
_background: set[asyncio.Task[None]] = set()


async def _send_in_order(queued: list[Callable[[], Awaitable[None]]]) -> None:
    if not queued:
        return
    loop = asyncio.get_running_loop()
    lock = _send_locks.get(loop)
    if lock is None:
        lock = _send_locks[loop] = asyncio.Lock()
    async with lock:
        for send in queued:
            try:
                await send()
            except Exception:  # the change is committed: the rest must still go out
                log.exception("could not send a request's events")


def _in_background(sending: Coroutine[Any, Any, None]) -> None:
    task = asyncio.ensure_future(sending)
    _background.add(task)
    task.add_done_callback(_background.discard)
