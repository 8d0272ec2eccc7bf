"""The pool dashboard's socket, /ws/pool/: staff only, a full snapshot every second.

A connection without a staff session is refused before the handshake completes, so no
snapshot can ever reach it. The staff check is repeated now and then, so a logout or a
revoked staff flag also ends an open socket.
"""

from __future__ import annotations

import asyncio
import contextlib
from importlib import import_module
from typing import Any

from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from jobs.operators import dashboard

INTERVAL = 1.0
RECHECK_EVERY = 10  # snapshots between two staff checks
CLOSE_REFUSED = 4403


async def is_staff(scope: dict[str, Any], *, reload: bool = False) -> bool:
    """Whether the scope's session belongs to an active staff user; `reload` re-reads the
    session from its store (the scope's copy would not see a logout)."""
    session = scope.get("session")
    key = getattr(session, "session_key", None)
    if not key:
        return False
    if reload:
        session = import_module(settings.SESSION_ENGINE).SessionStore(key)
    user = await get_user({"session": session})
    return bool(user.is_authenticated and user.is_active and user.is_staff)


class PoolConsumer(AsyncJsonWebsocketConsumer):
    groups: list[str] = []
    _task: asyncio.Task | None = None

    async def connect(self) -> None:
        if not await is_staff(self.scope):
            await self.close(code=CLOSE_REFUSED)
            return
        await self.accept()
        await self.channel_layer.group_add(dashboard.POOL_GROUP, self.channel_name)
        await self._send_snapshot()
        self._task = asyncio.create_task(self._tick())

    async def disconnect(self, code: int) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
            await self.channel_layer.group_discard(dashboard.POOL_GROUP, self.channel_name)

    async def _tick(self) -> None:
        count = 0
        while True:
            await asyncio.sleep(INTERVAL)
            count += 1
            if count % RECHECK_EVERY == 0 and not await is_staff(self.scope, reload=True):
                await self.close(code=CLOSE_REFUSED)
                return
            await self._send_snapshot()

    async def _send_snapshot(self) -> None:
        await self.send_json(await database_sync_to_async(dashboard.snapshot)())

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # Actions go through the CSRF-protected POST endpoints; the socket only asks for a refresh.
        if isinstance(content, dict) and content.get("type") == "pool.refresh":
            await self._send_snapshot()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data and len(text_data) <= 1024:
            with contextlib.suppress(ValueError):
                await super().receive(text_data=text_data)

    async def pool_changed(self, event: dict[str, Any]) -> None:
        await self._send_snapshot()
