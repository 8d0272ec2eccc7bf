"""WebSocket endpoint and message delivery, with ComfyUI's routing rules (PROTOCOL §2, §5).

``sockets`` maps a clientId to ONE socket, exactly as server.py does: a new socket with
the same clientId replaces the entry (the old one then gets nothing), and any socket
removes the entry on close without checking it is still its own. That orphans the newer
socket of a duplicate pair (trace 09); the bug is reproduced on purpose.
"""

from __future__ import annotations

import json
import logging
import struct
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4
SERVER_FEATURES = {"supports_preview_metadata": True, "max_upload_size": 104857600}


class SocketHub:
    """Open sockets by clientId, their feature flags, and the send/broadcast rules."""

    def __init__(
        self,
        queue_info: Callable[[], dict[str, Any]],
        reconnect_node: Callable[[str], str | None],
        features: dict[str, Any] | None = None,
    ) -> None:
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.metadata: dict[str, dict[str, Any]] = {}
        self.all_open: set[web.WebSocketResponse] = set()
        self.stalled = False
        self._queue_info = queue_info
        self._reconnect_node = reconnect_node
        # What the feature_flags answer holds: the profile's server features.
        self.features = dict(SERVER_FEATURES if features is None else features)

    # --- delivery ---------------------------------------------------------------------------

    async def send_json(self, event: str, data: dict[str, Any], sid: str | None = None) -> None:
        """To ``sid`` if it has a socket (else dropped: no buffering), or to all when None."""
        await self._deliver(sid, text=json.dumps({"type": event, "data": data}))

    async def send_bytes(self, event_type: int, payload: bytes, sid: str | None = None) -> None:
        await self._deliver(sid, binary=struct.pack(">I", event_type) + payload)

    async def broadcast_status(self) -> None:
        await self.send_json("status", {"status": self._queue_info()})

    def supports_preview_metadata(self, sid: str | None) -> bool:
        if sid is None or sid not in self.metadata:
            return False
        return bool(self.metadata[sid].get("feature_flags", {}).get("supports_preview_metadata"))

    async def _deliver(self, sid: str | None, text: str | None = None, binary: bytes | None = None) -> None:
        if self.stalled:
            return
        targets: list[web.WebSocketResponse | None]
        targets = list(self.sockets.values()) if sid is None else [self.sockets.get(sid)]
        for ws in targets:
            if ws is None or ws.closed:
                continue
            try:
                if text is not None:
                    await ws.send_str(text)
                else:
                    await ws.send_bytes(binary or b"")
            except Exception as ex:  # send_socket_catch_exception: a dead socket is skipped
                log.debug("send failed: %s", ex)

    async def close_all(self) -> None:
        """Fault "drop_sockets": close every socket at once."""
        for ws in list(self.all_open):
            await ws.close()

    # --- endpoint ---------------------------------------------------------------------------

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.rel_url.query.get("clientId", "")
        if sid:
            self.sockets.pop(sid, None)
        else:
            sid = uuid.uuid4().hex
        self.sockets[sid] = ws
        self.metadata[sid] = {"feature_flags": {}}
        self.all_open.add(ws)
        try:
            await self.send_json("status", {"status": self._queue_info(), "sid": sid}, sid)
            node = self._reconnect_node(sid)
            if node is not None:
                # On reconnect: the current node, without prompt_id (trace 09).
                await self.send_json("executing", {"node": node}, sid)
            first_message = True
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                    if first_message and isinstance(data, dict) and data.get("type") == "feature_flags":
                        self.metadata[sid]["feature_flags"] = data.get("data", {})
                        await self.send_json("feature_flags", dict(self.features), sid)
                    first_message = False
                except (ValueError, KeyError, TypeError) as ex:
                    log.debug("ignored client frame: %s", ex)
        finally:
            # Not checking that the entry is still this socket is the real server's bug.
            self.sockets.pop(sid, None)
            self.metadata.pop(sid, None)
            self.all_open.discard(ws)
        return ws
