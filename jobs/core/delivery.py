"""How an event reaches the sockets of its tab: in process, or through the channel layer.

The embedded default (no REDIS_URL) runs the relay, the views and every tab socket in one
process, on one event loop, so an event needs no channel layer at all: `publish` hands it
straight to the sockets registered here. Channels' in-memory layer would cost far more: it
deep-copies every message and walks every channel and group on each send and receive, a cost
that grows with the number of connected tabs (the relay-hop and fan-out figures of README's
"Performance"). With REDIS_URL the publisher may live in another process, so events go through
the layer's groups and each web process forwards them to its own sockets.

A socket registers before it reads its snapshot and holds what arrives until the snapshot
is sent, so no event falls between the two and none overtakes the snapshot (SPEC §5).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from channels.layers import InMemoryChannelLayer, get_channel_layer

log = logging.getLogger(__name__)

# The consumer's channel layer alias when events travel in process: not configured, so
# Channels gives the consumer no layer channel (nothing to receive, nothing to clean).
NO_LAYER = "comfyweb-in-process"


def in_process() -> bool:
    """True when every socket shares the publisher's process: the in-memory layer is in use."""
    return isinstance(get_channel_layer(), InMemoryChannelLayer)


class Sink:
    """One tab socket as publishers see it: text frames in order, held until it is ready."""

    def __init__(self, send_text: Callable[[str], Awaitable[None]]) -> None:
        self.send_text = send_text
        self.loop = asyncio.get_running_loop()
        self.held: list[str] | None = []  # None once the snapshot went out

    async def put(self, text: str) -> None:
        if self.held is not None:
            self.held.append(text)
            return
        await self.send_text(text)

    async def open(self) -> None:
        """Send what was held, then deliver directly. Events arriving while the held ones go
        out are appended and sent by this same loop, so the order holds."""
        held = self.held or []
        while held:
            await self.send_text(held.pop(0))
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


class Membership:
    """One socket in one tab's event group, either way events travel: a Sink registered
    here (holding what arrives until `open`), or the channel layer's group."""

    def __init__(self, group: str, consumer: Any, send_text: Callable[[str], Awaitable[None]]) -> None:
        # Channels gives a consumer a channel name only when it has a layer.
        self.group, self.layer = group, consumer.channel_layer
        self.channel_name: str = getattr(consumer, "channel_name", "")
        self.sink = Sink(send_text) if self.layer is None else None

    async def join(self) -> None:
        if self.sink is not None:
            add(self.group, self.sink)
        else:
            await self.layer.group_add(self.group, self.channel_name)

    async def open(self) -> None:
        """The snapshot went out: what was held follows, then events go straight through."""
        if self.sink is not None:
            await self.sink.open()

    async def leave(self) -> None:
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
    text = encode(message)
    loop = asyncio.get_running_loop()
    for sink in list(sinks):
        try:
            if sink.loop is loop:
                await sink.put(text)
            else:  # a publisher on another loop (a sync caller's own loop): hand it over
                asyncio.run_coroutine_threadsafe(sink.put(text), sink.loop)
        except Exception:  # one broken socket must not keep the event from the others
            log.exception("could not deliver %s to %s", message.get("type"), group)
