"""The tab WebSocket (SPEC §5): snapshot first, then the tab's live events.

Thin by design (STYLE §4): it checks the session, joins the tab's group, validates what
the page sends and hands it to the service; it decides nothing itself.

Hostile frames (SECURITY.md): binary, malformed and unknown frames get an `error` and the
socket stays open (SPEC §5); a frame over MAX_FRAME bytes gets an `error` and a close with
CLOSE_TOO_BIG; job.submit is rate limited per socket by a token bucket.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from jobs.core import delivery, errors, events, service, tabs
from jobs.web import access, socket_auth

db = database_sync_to_async
log = logging.getLogger("jobs.web.consumers")

CLOSE_REFUSED = 4403
# RFC 6455's own "message too big" is 1009, but Daphne (autobahn) lets an application close
# only with 1000 or 3000-4999, so this is 1009 in the application range. Frames over 1 MiB
# never reach us: Daphne itself drops those connections.
CLOSE_TOO_BIG = 4009
OWNER_CHANGED = 4001  # a sign-in adopted the tab: reconnect with the new session
MAX_FRAME = 64 * 1024


class TokenBucket:
    """`burst` tokens, refilled at `rate` per second; each submission takes one."""

    def __init__(self, burst: int, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst, self.rate, self.clock = burst, rate, clock
        self.tokens, self.stamp = float(burst), clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class TabConsumer(AsyncJsonWebsocketConsumer):
    tab_id: str | None = None
    membership: delivery.Membership | None = None
    _last_heartbeat = 0.0

    @property
    def channel_layer_alias(self) -> str:
        """No layer channel when events are delivered in process (jobs.core.delivery)."""
        return delivery.NO_LAYER if delivery.in_process() else "default"

    @classmethod
    async def encode_json(cls, content: dict[str, Any]) -> str:
        """Events from the channel layer and snapshots, encoded as in-process events are."""
        return delivery.encode(content)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale DB connections before every message, a thread hop each time;
        # every DB call here goes through database_sync_to_async, which already does that.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        session_key = access.owner_of_scope(self.scope)
        await self.accept(subprotocol=socket_auth.chosen_subprotocol(self.scope))
        if not session_key:
            if access.accounts_mode():
                await self._refuse("not_signed_in", "Sign in first.")
            else:
                await self._refuse("no_session", "Open the app page first: it starts your session.")
            return
        try:
            tab_id = await db(tabs.claim_tab)(self.scope["url_route"]["kwargs"]["tab"], session_key)
        except errors.ServiceError as error:
            await self._refuse(error.code, error.message)
            return
        self.session_key, self.tab_id = session_key, str(tab_id)
        self.submissions = TokenBucket(settings.COMFYWEB_SUBMIT_BURST, settings.COMFYWEB_SUBMIT_RATE)
        self.membership = delivery.Membership(
            events.tab_group(tab_id), self, lambda text: self.send(text_data=text), self._send_snapshot
        )
        await self.membership.join()
        await db(tabs.tab_connected)(tab_id, +1)
        # Joined the group before reading the snapshot: nothing can fall between the two;
        # numbered events at or below the snapshot's seq are dropped (jobs.core.ordering).
        await self.membership.open(await self._send_snapshot())

    async def _send_snapshot(self) -> int:
        """The tab's state, sent; returns the seq it is current to."""
        snapshot = await db(tabs.tab_snapshot)(self.tab_id)
        await self.send_json(snapshot)
        return int(snapshot["seq"])

    async def _refuse(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, "ref": None})
        await self.close(code=CLOSE_REFUSED)

    async def disconnect(self, code: int) -> None:
        if self.membership is not None:
            await self.membership.leave()
            await db(tabs.tab_connected)(self.tab_id, -1)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.tab_id is None:
            return
        size = len(bytes_data) if bytes_data is not None else _utf8_size(text_data or "")
        if size > MAX_FRAME:
            await self._error("message_too_large", f"Messages are limited to {MAX_FRAME} bytes.")
            await self.close(code=CLOSE_TOO_BIG)
            return
        if bytes_data is not None or text_data is None:
            await self._error("invalid_message", "Binary frames are not accepted.")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self._error("invalid_message", "Messages must be JSON objects.")
            return
        except RecursionError:  # "[[[[…" thousands deep: json's parser recurses
            await self._error("invalid_message", "The message is nested too deeply.")
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self._error("invalid_message", "Messages must be JSON objects with a type.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        kind = content["type"]
        ref = content.get("ref")
        ref = ref if isinstance(ref, str) and len(ref) <= 100 else None
        handler = {
            "job.submit": self._submit,
            "job.cancel": self._cancel,
            "tab.resync": self._resync,
            "ping": self._ping,
        }.get(kind)
        if handler is None:
            await self._error("unknown_type", f"Unknown message type {kind[:50]!r}.", ref)
            return
        try:
            await handler(content, ref)
        except errors.ServiceError as error:
            await self._error(error.code, error.message, ref)
        except Exception:
            # A bug must not cost the page its socket (SPEC §5); it is logged, not echoed.
            log.exception("tab %s: %s failed", self.tab_id, kind)
            await self._error("internal", "Something went wrong on our side; it has been logged.", ref)

    async def _submit(self, content: dict[str, Any], ref: str | None) -> None:
        if not self.submissions.take():
            raise errors.ServiceError("rate_limited", "Too many submissions: wait a moment.", status=429)
        if not isinstance(content.get("workflow"), str) or len(content["workflow"]) > 100:
            raise errors.ServiceError(
                "unknown_workflow", "workflow must be a workflow slug.", field="workflow"
            )
        _, found = await db(service.submit_job)(
            self.session_key, self.tab_id, content.get("workflow"), content.get("params") or {}, ref
        )
        await events.publish(found)
        await events.nudge_relay("submit")

    async def _cancel(self, content: dict[str, Any], ref: str | None) -> None:
        result = await db(service.cancel_job)(self.session_key, content.get("job"))
        await events.publish(result.events)
        if result.needs_relay:
            await events.nudge_relay("cancel", job=str(result.job.id))

    async def _resync(self, content: dict[str, Any], ref: str | None) -> None:
        if self.membership is not None:
            await self.membership.refresh()

    async def _ping(self, content: dict[str, Any], ref: str | None) -> None:
        now = time.monotonic()
        if now - self._last_heartbeat >= tabs.HEARTBEAT:
            self._last_heartbeat = now
            await db(tabs.tab_heartbeat)(self.tab_id)
        await self.send_json({"type": "pong"})

    async def _error(self, code: str, message: str, ref: str | None = None) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, "ref": ref})

    # Group events from the channel layer, forwarded as they are (payloads are built in
    # jobs.core.events); numbered ones in seq order.
    async def job_updated(self, event: dict[str, Any]) -> None:
        await self._arrive(event)

    async def lock_updated(self, event: dict[str, Any]) -> None:
        await self._arrive(event)

    async def _arrive(self, event: dict[str, Any]) -> None:
        if self.membership is None:
            return
        await self.membership.arrive(delivery.encode(event), event.get("seq"))

    async def job_progress(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    async def job_preview(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    async def owner_changed(self, event: dict[str, Any]) -> None:
        """The tab's owner changed (a sign-in adopted it): this socket's identity is stale, so
        it closes and the page reconnects with its new session."""
        await self.send_json(event)
        await self.close(code=OWNER_CHANGED)


def _utf8_size(text: str) -> int:
    """The frame's size in UTF-8 bytes, or a smaller number when it cannot exceed MAX_FRAME anyway."""
    if len(text) * 4 <= MAX_FRAME:
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))
