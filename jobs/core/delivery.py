"""How an event reaches the sockets of its tab: in process, or through the channel layer.

The embedded default (no REDIS_URL) runs the relay, the views and every tab socket in one
process, on one event loop, so an event needs no channel layer at all: `publish` hands it
straight to the sockets registered here. Channels' in-memory layer would cost far more: it
deep-copies every message and walks every channel and group on each send and receive, a cost
that grows with the number of connected tabs (the relay-hop and fan-out figures of README's
"Performance"). With REDIS_URL the publisher may live in another process, so events go through
the layer's groups and each web process forwards them to its own sockets.

A socket registers before it reads its snapshot and holds what arrives until the snapshot
is sent, so no event falls between the two and none overtakes the snapshot (SPEC §5). Either
way, a socket's numbered events reach it in seq order (jobs.core.ordering).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from channels.layers import InMemoryChannelLayer, get_channel_layer

from jobs.core import instruments, ordering

log = logging.getLogger(__name__)

# The consumer's channel layer alias when events travel in process: not configured, so
# Channels gives the consumer no layer channel (nothing to receive, nothing to clean).
NO_LAYER = "comfyweb-in-process"


def in_process() -> bool:
    """True when every socket shares the publisher's process: the in-memory layer is in use."""
    return isinstance(get_channel_layer(), InMemoryChannelLayer)


class Sink:
    """One tab socket as publishers in this process see it: text frames in order, held until
    the socket's first state went out."""

    def __init__(self, arrive: Callable[[str, Any], Awaitable[None]]) -> None:
        self.arrive = arrive
        self.loop = asyncio.get_running_loop()
        self.held: list[tuple[str, Any]] | None = []  # None once the snapshot went out

    async def put(self, text: str, seq: Any = None) -> None:
        if self.held is not None:
            self.held.append((text, seq))
            return
        await self.arrive(text, seq)

    async def open(self) -> None:
        """Pass on what was held, then deliver directly. Events arriving while the held ones
        go out are appended and passed on by this same loop, so the order holds."""
        held = self.held or []
        while held:
            await self.arrive(*held.pop(0))
        self.held = None


_sinks: dict[str, set[Sink]] = {}


def add(group: str, sink: Sink) -> None:
    _sinks.setdefault(group, set()).add(sink)


def discard(group: str, sink: Sink) -> None:
    found = _sinks.get(group)
    if found is not None:
        found.discard(sink)
        if not found:
            del _sinks[group]


# How long a socket holds numbered events behind a missing one before it reads the tab's state
# afresh (jobs.core.ordering). An event overtaken by the next one comes within milliseconds;
# one that was lost never does.
GAP_WAIT = 1.0


class Membership:
    """One socket in one tab's event group, either way events travel: a Sink registered
    here (holding what arrives until `open`), or the channel layer's group, whose events the
    consumer hands to `arrive`. Numbered events go to the socket in seq order
    (jobs.core.ordering); when one is missing for GAP_WAIT, `refresh` sends the tab's state
    afresh by the consumer's `recover`, which returns the seq that state is current to."""

    def __init__(
        self,
        group: str,
        consumer: Any,
        send_text: Callable[[str], Awaitable[None]],
        recover: Callable[[], Awaitable[int]],
    ) -> None:
        # Channels gives a consumer a channel name only when it has a layer.
        self.group, self.layer = group, consumer.channel_layer
        self.channel_name: str = getattr(consumer, "channel_name", "")
        self.send_text, self.recover = send_text, recover
        self.sink = Sink(self.arrive) if self.layer is None else None
        self.order: ordering.InOrder[str] | None = None
        self._sending = False
        self._gap_timer: asyncio.TimerHandle | None = None
        self._refreshing: asyncio.Task[None] | None = None

    async def join(self) -> None:
        if self.sink is not None:
            add(self.group, self.sink)
        else:
            await self.layer.group_add(self.group, self.channel_name)

    async def open(self, current: int) -> None:
        """The socket's first state, current to seq `current`, went out: what was held
        follows, then events go straight through."""
        self.order = ordering.InOrder(current)
        if self.sink is not None:
            await self.sink.open()

    async def arrive(self, text: str, seq: Any = None) -> None:
        """An event for the socket: a numbered one waits for those before it, and any other
        for the numbered ones that came before it."""
        if self.order is None:
            await self.send_text(text)
            return
        number = seq if isinstance(seq, int) else None
        if number is not None and number > self.order.current + 1:
            instruments.EVENTS_EARLY.inc()
        self.order.offer(number, text)
        await self._send_ready()

    async def _send_ready(self) -> None:
        if self._sending or self.order is None:
            return  # the loop already sending takes the new ones too, in order
        self._sending = True
        try:
            while (text := self.order.next()) is not None:
                await self.send_text(text)
        finally:
            self._sending = False
        if self.order.gap and self._gap_timer is None and self._refreshing is None:
            self._gap_timer = asyncio.get_running_loop().call_later(GAP_WAIT, self._gap_outlasted)

    def _gap_outlasted(self) -> None:
        self._gap_timer = None
        if self.order is not None and self.order.gap and self._refreshing is None:
            log.info("%s: a numbered event missing for %s s; sending the tab's state", self.group, GAP_WAIT)
            instruments.SOCKET_REFRESHES.inc()
            self._refreshing = asyncio.ensure_future(self._close_gap())

    async def _close_gap(self) -> None:
        try:
            await self.refresh()
        except Exception:  # the socket stays; the gap is tried again after another wait
            log.exception("%s: could not send the tab's state", self.group)
        finally:
            self._refreshing = None
            await self._send_ready()

    async def refresh(self) -> None:
        """Send the tab's state afresh (a gap that outlasted GAP_WAIT, or the page asked):
        nothing is released while it is read, and what it covers is dropped."""
        if self.order is None:
            return
        self.order.hold()
        current = None
        try:
            current = await self.recover()
        finally:
            self.order.restart(current)
            await self._send_ready()

    async def leave(self) -> None:
        if self._gap_timer is not None:
            self._gap_timer.cancel()
        if self._refreshing is not None:
            self._refreshing.cancel()
        if self.sink is not None:
            discard(self.group, self.sink)
        else:
            await self.layer.group_discard(self.group, self.channel_name)


def local_count() -> int:
    return sum(len(s) for s in _sinks.values())


def encode(message: dict[str, Any]) -> str:
    """A message's text frame, by orjson: every event of every job is encoded here once,
    several times faster than by the standard library (issue Y). What orjson refuses (an
    integer past 64 bits, say a seed a client chose) is encoded by the standard library."""
    try:
        return orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(message)


async def deliver(group: str, message: dict[str, Any]) -> None:
    """Send `message` to every socket of `group` in this process, encoded once."""
    sinks = _sinks.get(group)
    if not sinks:
        return
    text, seq = encode(message), message.get("seq")
    loop = asyncio.get_running_loop()
    for sink in list(sinks):
        try:
            if sink.loop is loop:
                await sink.put(text, seq)
            else:  # a publisher on another loop (a sync caller's own loop): hand it over
                asyncio.run_coroutine_threadsafe(sink.put(text, seq), sink.loop)
        except Exception:  # one broken socket must not keep the event from the others
            log.exception("could not deliver %s to %s", message.get("type"), group)
