"""A thin async wrapper over ComfyUI's ``/ws?clientId=`` socket that yields typed events.

    async with ComfySocket(client.ws_url(client_id)) as sock:
        async for event in sock:
            ...

One socket per clientId per server (PROTOCOL.md §5). If a second socket opens with
the same clientId, the server re-points the id to it and the first one goes silent;
worse, when the older one then closes, the server forgets the id altogether and the
newer socket is orphaned (it receives nothing, not even ``status``). So a caller
replacing a socket must close the old one *before* opening the new one (leaving
the ``async with`` block does that), or use a fresh clientId per connection.
Frames sent while no socket is open are lost; recover from /history and /queue.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake

from .errors import ComfyUnavailable, ProtocolError
from .messages import Event, parse_binary, parse_text

__all__ = ["FEATURE_FLAGS_FRAME", "ComfySocket"]

# The server only looks at the first text frame a client sends (§2).
FEATURE_FLAGS_FRAME = {"type": "feature_flags", "data": {"supports_preview_metadata": True}}


class ComfySocket:
    """``announce_preview_metadata`` asks for type-4 previews, the only kind that
    says which prompt and node they belong to (§2 "Binary frames").

    ``max_size`` is None (no limit) by default because previews can be large.
    websockets' keepalive pings stay on: aiohttp answers them, and they detect a
    dead server faster than TCP does.
    """

    def __init__(
        self,
        url: str,
        *,
        announce_preview_metadata: bool = True,
        open_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        max_size: int | None = None,
        close_timeout: float = 2.0,
    ) -> None:
        self._url = url
        self._server_url = _server_url(url)
        self._announce = announce_preview_metadata
        self._open_timeout = open_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._max_size = max_size
        # A frozen server never answers the closing handshake; don't wait long for it.
        self._close_timeout = close_timeout
        self._ws: ClientConnection | None = None

    @property
    def url(self) -> str:
        return self._url

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Connect and, if asked, announce preview metadata as the first frame."""
        if self._ws is not None:
            raise RuntimeError("ComfySocket is already open")
        try:
            self._ws = await connect(
                self._url,
                open_timeout=self._open_timeout,
                ping_interval=self._ping_interval,
                ping_timeout=self._ping_timeout,
                max_size=self._max_size,
                close_timeout=self._close_timeout,
                # No permessage-deflate: progress frames are a few hundred bytes and previews
                # are already-compressed images, so inflating every frame only costs the relay
                # CPU on its hottest path.
                compression=None,
            )
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise ComfyUnavailable(f"cannot open {self._url}: {exc!r}", server_url=self._server_url) from exc
        if self._announce:
            # If the server already closed, the frames it sent are still buffered
            # and the closure surfaces on the next recv() or iteration.
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(json.dumps(FEATURE_FLAGS_FRAME))

    async def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    async def recv(self) -> Event:
        """The next event. Raises ComfyUnavailable once the socket is closed,
        whether the server closed it cleanly or the connection was lost."""
        ws = self._require_open()
        try:
            frame = await ws.recv()
        except ConnectionClosed as exc:
            raise ComfyUnavailable(
                f"{self._url}: socket closed ({exc})", server_url=self._server_url
            ) from exc
        return self._parse(frame)

    async def __aiter__(self) -> AsyncIterator[Event]:
        """Events until the socket closes: a clean close ends the iteration, a lost
        connection raises ComfyUnavailable."""
        ws = self._require_open()
        try:
            async for frame in ws:
                yield self._parse(frame)
        except ConnectionClosedOK:
            return
        except ConnectionClosed as exc:
            raise ComfyUnavailable(f"{self._url}: socket lost ({exc})", server_url=self._server_url) from exc

    def _parse(self, frame: str | bytes) -> Event:
        try:
            return parse_binary(frame) if isinstance(frame, bytes) else parse_text(frame)
        except ProtocolError as exc:
            exc.server_url = self._server_url
            raise

    def _require_open(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError("ComfySocket is not open; use 'async with'")
        return self._ws


def _server_url(ws_url: str) -> str:
    """The server's HTTP base URL, so socket errors name the server the same way
    ComfyClient errors do: ws://h:p/ws?clientId=x → http://h:p."""
    scheme, sep, rest = ws_url.partition("://")
    if not sep:
        return ws_url
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    rest = rest.split("?", 1)[0].rstrip("/")
    for suffix in ("/api/ws", "/ws"):
        if rest.endswith(suffix):
            rest = rest[: -len(suffix)]
            break
    return f"{scheme}://{rest}"
