"""`/ws?clientId=` (and `/api/ws`): ComfyUI's socket, for the caller's prompts of one clientId.

It joins the group of the clientId's tab (jobs.comfyapi.identity.tab_of) and turns that
tab's events into ComfyUI frames (PROTOCOL.md §2, §3): the relay's mirrored frames
(jobs.relay.mirror) as they come, previews as binary frames of type 4 for a client that
announced `supports_preview_metadata` and type 1 otherwise, and from the job's own state:
`status` when a prompt of the tab is accepted or ends (its queue_remaining counts the tab's
unfinished prompts only), and at the end, once ComfyWeb stored the results, the outcome
frame (`execution_success`, or the held `execution_error` / `execution_interrupted`), then
`status`, then `executing` with node null. Other clients' prompts never reach it.
"""

from __future__ import annotations

import base64
import json
import logging
import struct
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from jobs.comfyapi import shapes
from jobs.comfyapi.identity import caller_of, tab_of
from jobs.core import delivery, events, progress, tabs
from jobs.core.models import ACTIVE_STATUSES

log = logging.getLogger("jobs.comfyapi")
db = database_sync_to_async

CLOSE_REFUSED = 4403
PREVIEW_IMAGE, PREVIEW_IMAGE_WITH_METADATA = 1, 4
IMAGE_FORMATS = {"image/jpeg": 1, "image/png": 2}


def origin_allowed(headers: dict[str, str]) -> bool:
    """ComfyUI's rule: a request that names an Origin must come from the host it calls."""
    origin = headers.get("origin")
    if not origin:
        return True
    return urlsplit(origin).netloc.lower() == headers.get("host", "").lower()


class ComfySocketConsumer(AsyncWebsocketConsumer):
    membership: delivery.Membership | None = None

    @property
    def channel_layer_alias(self) -> str:
        return delivery.NO_LAYER if delivery.in_process() else "default"

    async def connect(self) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self.scope.get("headers", [])}
        caller = await database_sync_to_async(caller_of)(self.scope)
        if caller is None or not origin_allowed(headers):
            await self.close(code=CLOSE_REFUSED)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.client_id = (query.get("clientId") or [""])[0][:200] or uuid.uuid4().hex
        self.tab_id = tab_of(caller, self.client_id)
        self.metadata = False
        self.heard = False
        self.active: set[str] = set()
        self.held: dict[str, dict[str, Any]] = {}
        await self.accept()
        self.membership = delivery.Membership(
            events.tab_group(self.tab_id), self, self._from_sink, self._catch_up
        )
        await self.membership.join()
        seq, jobs = await db(tabs.active_jobs)(self.tab_id)
        self.active = {job["id"] for job in jobs}
        await self._status(sid=True)
        for job in sorted(self.active):  # the running node, as ComfyUI tells a reconnecting client
            reading = progress.latest(job)
            if reading and reading.get("node"):
                await self._frame({"type": "executing", "data": {"node": reading["node"]}})
                break
        await self.membership.open(seq)

    async def _catch_up(self) -> int:
        """A numbered event went missing (jobs.core.delivery): the tab's jobs as they are now,
        told as their own events would have told them; returns the seq that is current to."""
        seq, jobs = await db(tabs.active_jobs)(self.tab_id, sorted(self.active))
        for job in jobs:
            await self._job_changed(job)
        return seq

    async def disconnect(self, code: int) -> None:
        if self.membership is not None:
            await self.membership.leave()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Only the first text frame counts, and only `feature_flags` (PROTOCOL.md §2)."""
        if self.heard or text_data is None:
            return
        self.heard = True
        try:
            frame = json.loads(text_data[:65536])
        except (ValueError, RecursionError):
            return
        if (
            isinstance(frame, dict)
            and frame.get("type") == "feature_flags"
            and isinstance(frame.get("data"), dict)
        ):
            self.metadata = frame["data"].get("supports_preview_metadata") is True
            answer = {
                "supports_preview_metadata": True,
                "max_upload_size": settings.COMFYWEB_MAX_UPLOAD_BYTES,
            }
            await self._frame({"type": "feature_flags", "data": answer})

    # --- the tab's events ---------------------------------------------------------------

    async def _from_sink(self, text: str) -> None:
        """An event of the tab, in order (jobs.core.delivery), turned into ComfyUI's frames."""
        message = json.loads(text)
        kind = message.get("type")
        if kind == "comfy.frame":
            await self._mirrored(message)
        elif kind == "comfy.preview":
            await self._preview(message)
        elif kind == "job.updated":
            await self._job_changed(message["job"])

    # Group events from the channel layer: all go the way of in-process ones (_from_sink),
    # numbered ones in seq order. Locks and progress have no ComfyUI frame of their own.
    async def comfy_frame(self, event: dict[str, Any]) -> None:
        await self._arrive(event)

    async def comfy_preview(self, event: dict[str, Any]) -> None:
        await self._arrive(event)

    async def job_updated(self, event: dict[str, Any]) -> None:
        await self._arrive(event)

    async def lock_updated(self, event: dict[str, Any]) -> None:
        await self._arrive(event)  # numbered: it must pass for the ones after it

    async def job_progress(self, event: dict[str, Any]) -> None:
        return None

    async def job_preview(self, event: dict[str, Any]) -> None:
        return None

    async def _arrive(self, event: dict[str, Any]) -> None:
        if self.membership is not None:
            await self.membership.arrive(delivery.encode(event), event.get("seq"))

    async def _frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame))

    async def _status(self, sid: bool = False) -> None:
        data: dict[str, Any] = {"status": {"exec_info": {"queue_remaining": len(self.active)}}}
        if sid:
            data["sid"] = self.client_id
        await self._frame({"type": "status", "data": data})

    async def _mirrored(self, event: dict[str, Any]) -> None:
        frame = event["frame"]
        if frame.get("type") in ("execution_error", "execution_interrupted"):
            self.held[event["job"]] = frame  # sent at the end, once the job is stored
            return
        await self._frame(frame)

    async def _preview(self, event: dict[str, Any]) -> None:
        image = base64.b64decode(event["image"])
        if self.metadata:
            meta = json.dumps(
                {
                    "node_id": event.get("node"),
                    "prompt_id": event["job"],
                    "display_node_id": event.get("node"),
                    "parent_node_id": None,
                    "real_node_id": event.get("node"),
                    "image_type": event.get("image_type", "image/jpeg"),
                }
            ).encode()
            head = struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(meta)) + meta
        else:
            head = struct.pack(">II", PREVIEW_IMAGE, IMAGE_FORMATS.get(event.get("image_type", ""), 1))
        await self.send(bytes_data=head + image)

    async def _job_changed(self, job: dict[str, Any]) -> None:
        job_id, status = job["id"], job["status"]
        if status in ACTIVE_STATUSES:
            if job_id not in self.active:
                self.active.add(job_id)
                await self._status()
            return
        if job_id not in self.active:
            return
        self.active.discard(job_id)
        outcome = self._outcome(job)
        if outcome is not None:
            await self._frame(outcome)
        await self._status()
        if outcome is not None:
            await self._frame({"type": "executing", "data": {"node": None, "prompt_id": job_id}})

    def _outcome(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """The frame that tells how the prompt ended; None for one deleted from the queue
        before it started (ComfyUI sends nothing for those: PROTOCOL.md §1, POST /queue)."""
        job_id, status = job["id"], job["status"]
        held = self.held.pop(job_id, None)
        if status == "succeeded":
            return {"type": "execution_success", "data": {"prompt_id": job_id, "timestamp": _now_ms()}}
        if held is not None:
            return held
        if status == "cancelled":
            if not job.get("started_at"):
                return None
            data = shapes.interrupted_data_of(job_id, job.get("error"))
            return {"type": "execution_interrupted", "data": {**data, "timestamp": _now_ms()}}
        data = {**shapes.error_data_of(job_id, job.get("error")), "timestamp": _now_ms()}
        return {"type": "execution_error", "data": data}


def _now_ms() -> int:
    return int(time.time() * 1000)
