"""Bring a server's jobs up to date from its own records, not from its socket.

Frames sent while no socket was open are lost (PROTOCOL.md §5), and a socket can stall while
prompts keep finishing (Comfy-Org/ComfyUI issue 15240). So after every (re)connect, and
periodically for jobs that have been silent, /history and /queue decide: finished ones
complete, queued or running ones keep waiting, vanished ones go back to pending for a new
attempt (the server restarted and lost its queue).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from channels.db import database_sync_to_async

from jobs.comfy import ComfyClient, QueueState
from jobs.core import attempts, events
from jobs.core.models import ACTIVE_STATUSES, Job, JobStatus
from jobs.relay.tracking import Tracked, node_titles

log = logging.getLogger(__name__)
db = database_sync_to_async

SILENT_AFTER = 5.0  # seconds without a frame before a tracked prompt is checked over HTTP


class ServerWatcher(Protocol):
    """What reconciliation needs of the watcher of one server (jobs.relay.watcher.ServerWatcher).

    A protocol rather than an import: the watcher calls reconciliation, never the other way
    round, so the two modules do not form a circle.
    """

    server_id: int
    name: str
    client: ComfyClient
    tracked: dict[str, Tracked]
    capabilities: frozenset[str]
    on_free: Callable[[], None]  # jobs may go now: one was sent back to pending

    def is_dispatching(self, pid: str) -> bool: ...

    def complete_later(self, pid: str) -> None: ...


def active_on(server_id: int) -> list[tuple[uuid.UUID, uuid.UUID, int, str, dict]]:
    rows = Job.objects.filter(server_id=server_id, status__in=ACTIVE_STATUSES).select_related("workflow")
    return [(j.id, j.tab_id, j.attempt, j.status, j.graph_to_run) for j in rows]


async def reconcile(watcher: ServerWatcher) -> None:
    """Every job placed on the server, checked against /history and /queue (after a connect)."""
    active = await db(active_on)(watcher.server_id)
    if not active:
        return
    queue = await watcher.client.get_queue()
    for job_id, tab_id, attempt, status, graph in active:
        pid = str(job_id)
        if status == JobStatus.PENDING and pid in watcher.tracked:
            continue  # being dispatched by this relay right now
        never_queued = status == JobStatus.PENDING and not _on_server(pid, queue)
        if never_queued and await watcher.client.get_history(pid) is None:
            continue  # bound but never queued: the relay's submission pass queues it
        tracked = watcher.tracked.get(pid)
        if tracked is None or tracked.attempt != attempt:
            tracked = Tracked(job_id, tab_id, attempt, len(graph), titles=node_titles(graph))
            watcher.tracked[pid] = tracked
        await settle(watcher, tracked, queue)


async def _still_there(watcher: ServerWatcher, pid: str) -> bool:
    """Neither queued, running nor finished at the first look: whether the server has it
    after all. The Jobs API answers from queue and history at once (current releases);
    0.3.64 is asked its queue once more, since the prompt may have moved from pending to
    finished between the two reads."""
    if "jobs_api" in watcher.capabilities:
        status = await watcher.client.job_status(pid)
        if status in ("completed", "failed", "cancelled"):
            watcher.complete_later(pid)
        return status is not None
    return pid in await watcher.client.get_queue() or await watcher.client.get_history(pid) is not None


def _on_server(pid: str, queue: QueueState) -> bool:
    return pid in queue


async def sweep(watcher: ServerWatcher, queue: QueueState) -> None:
    """Tracked prompts silent for a while, checked the same way (a stalled socket)."""
    now = time.monotonic()
    for tracked in list(watcher.tracked.values()):
        if now - tracked.last_frame_at >= SILENT_AFTER and not watcher.is_dispatching(tracked.prompt_id):
            await settle(watcher, tracked, queue)


async def settle(watcher: ServerWatcher, tracked: Tracked, queue: QueueState) -> None:
    pid = tracked.prompt_id
    if pid in queue:
        tracked.last_frame_at = time.monotonic()
        if pid in queue.running and not tracked.started:
            tracked.started = True
            await events.publish(await db(attempts.mark_running)(tracked.job_id, tracked.attempt))
        return
    if await watcher.client.get_history(pid) is not None:
        watcher.complete_later(pid)
        return
    if await _still_there(watcher, pid):
        return
    watcher.tracked.pop(pid, None)
    log.info("prompt %s vanished from %s; starting a new attempt", pid, watcher.name)
    reason = "The prompt vanished from its server (restarted?); trying again."
    await events.publish(await db(attempts.back_to_pending)(tracked.job_id, tracked.attempt, reason))
    watcher.on_free()  # it waits again: placed at the next pass
