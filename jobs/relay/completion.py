"""Finishing a prompt: read the outcome from /history, store the outputs, end the attempt.

Used after the terminal `executing` frame and by reconciliation alike; safe to run twice for
the same attempt (outputs are stored under fixed names and finishing is conditional).
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from PIL import Image

from jobs.comfy import ComfyClient, HistoryEntry
from jobs.core import attempts, events, instruments, storage
from jobs.core.models import JobStatus
from jobs.relay import misplaced

if TYPE_CHECKING:
    from jobs.relay.tracking import Tracked

log = logging.getLogger(__name__)
db = database_sync_to_async

HISTORY_WAITS = (0, 0.1, 0.3, 1.0, 2.0)


async def complete(
    client: ComfyClient,
    tracked: Tracked,
    server_name: str,
    on_missing_model: Callable[[Tracked, list[misplaced.Missing]], Awaitable[bool]] | None = None,
) -> bool:
    """End the tracked attempt from the server's records; False when there is no entry yet.

    `on_missing_model`: the prompt failed because the server lacks a model file; True when
    it placed the job again (jobs.relay.misplaced), and the attempt is not ended here.
    """
    pid = tracked.prompt_id
    entry = None
    for wait in HISTORY_WAITS:
        await asyncio.sleep(wait)
        entry = await client.get_history(pid)
        if entry is not None:
            break
    if entry is None:
        log.warning("no history yet for finished prompt %s on %s", pid, server_name)
        return False
    outcome = tracked.outcome or entry.outcome
    if outcome == "success":
        outputs = await download(client, tracked.job_id, entry)
        result = await db(attempts.finish)(
            tracked.job_id, tracked.attempt, JobStatus.SUCCEEDED, outputs=outputs
        )
    elif outcome == "interrupted":
        cancelled = {"code": "cancelled", "message": "Cancelled while running.", "node": None}
        result = await db(attempts.finish)(
            tracked.job_id, tracked.attempt, JobStatus.CANCELLED, error=cancelled
        )
    else:
        missing = misplaced.in_execution_error(entry.error_message)
        if missing and on_missing_model is not None and await on_missing_model(tracked, missing):
            return True
        error = tracked.error or history_error(entry)
        result = await db(attempts.finish)(tracked.job_id, tracked.attempt, JobStatus.FAILED, error=error)
    if result:
        instruments.completed(time.monotonic() - tracked.terminal_at if tracked.terminal_at else None)
    await events.publish(result)
    return True


async def download(
    client: ComfyClient, job_id: uuid.UUID, entry: HistoryEntry
) -> list[attempts.StoredOutput]:
    """Every image of the entry, fetched with /view from the attempt's own server."""
    stored: list[attempts.StoredOutput] = []
    counters: dict[str, int] = {}
    for image in entry.images():
        data = await client.view(image.filename, image.subfolder, image.type)
        index = counters.get(image.node_id, 0)
        counters[image.node_id] = index + 1
        width, height, content_type, extension = describe_image(data)
        name = await db(storage.save_output)(job_id, image.node_id, index, data, extension)
        stored.append(
            attempts.StoredOutput(
                node_id=image.node_id,
                index=index,
                file=name,
                filename=image.filename,
                kind=image.type,
                content_type=content_type,
                width=width,
                height=height,
            )
        )
    return stored


def history_error(entry: HistoryEntry) -> dict[str, Any]:
    message = entry.error_message or {}
    if message:
        return {
            "code": "execution_error",
            "message": f"Node {message.get('node_id')} ({message.get('node_type')}) failed: "
            f"{message.get('exception_type')}: {message.get('exception_message')}",
            "node": message.get("node_id"),
        }
    return {"code": "execution_error", "message": "The server reported an error.", "node": None}


def describe_image(data: bytes) -> tuple[int | None, int | None, str, str]:
    """Size, content type and file extension of a downloaded output, from its bytes."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = (image.format or "PNG").lower()
            return image.width, image.height, f"image/{kind}", {"jpeg": "jpg"}.get(kind, kind)
    except (OSError, ValueError):
        return None, None, "application/octet-stream", "bin"
