"""One server as the relay sees it: its socket, the prompts it owns there, and their attempts.

Every call of an attempt goes through this watcher's own `ComfyClient`, which is bound to the
server's URL, so an attempt can reach no other server (SPEC §2.1) by construction.
Frames are routed by prompt_id to the owning tab; frames of prompts this relay did not queue
are dropped (PROTOCOL.md §3: a prompt without client_id is broadcast to every socket).
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import random
import uuid
from typing import Any

from channels.db import database_sync_to_async
from PIL import Image

from jobs import attempts, errors, events, health, progress, storage
from jobs.comfy import (
    ComfyClient,
    ComfyError,
    ComfySocket,
    ComfyUnavailable,
    Event,
    PromptRejected,
    ProtocolError,
    summarize_node_errors,
)
from jobs.comfy import messages as m
from jobs.models import JobStatus
from jobs.tracking import Tracked
from jobs.workflows import build_prompt, image_params

log = logging.getLogger(__name__)
db = database_sync_to_async


class ServerWatcher:
    def __init__(
        self, server_id: int, name: str, url: str, client_id: str, *, client: ComfyClient | None = None
    ):
        self.server_id = server_id
        self.name = name
        self.url = url
        self.client_id = client_id
        self.client = client or ComfyClient(url)
        self.tracked: dict[str, Tracked] = {}
        self.connected = asyncio.Event()
        self.queue_remaining = 0
        self._task: asyncio.Task[None] | None = None
        self._completing: set[str] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._last_preview_prompt: str | None = None

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"watch-{self.name}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for task in list(self._background):
            task.cancel()
        await self.client.aclose()

    async def run(self) -> None:
        """Keep one socket open to the server, reconnecting with jittered backoff.

        One socket per clientId at a time: the old socket is closed (context exit) before a
        new one opens, which avoids the server's orphaning bug (PROTOCOL.md §5).
        """
        delay = 0.5
        while True:
            try:
                async with ComfySocket(self.client.ws_url(self.client_id)) as sock:
                    delay = 0.5
                    self.connected.set()
                    await db(health.set_server_health)(self.server_id, online=True)
                    self._spawn(self.reconcile())
                    async for event in sock:
                        await self.handle(event)
                raise ComfyUnavailable("socket closed by the server")
            except asyncio.CancelledError:
                raise
            except (ComfyError, OSError) as error:
                self.connected.clear()
                log.info("server %s unreachable: %s", self.name, error)
                await db(health.set_server_health)(self.server_id, online=False, error=str(error))
            except Exception:
                self.connected.clear()
                log.exception("watcher of %s failed; restarting", self.name)
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 10.0)

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- dispatch -----------------------------------------------------------------------

    async def submit(self, ticket: attempts.Ticket) -> None:
        """Upload the attempt's inputs and queue its prompt, all on this server."""
        pid = str(ticket.job_id)
        self.tracked[pid] = Tracked(ticket.job_id, ticket.tab_id, ticket.attempt, len(ticket.graph))
        try:
            names = {}
            for param, upload_id in image_params(ticket.params_spec, ticket.values).items():
                upload = await db(attempts.upload_for)(upload_id)
                data = await db(storage.read_bytes)(upload.file)
                extension = upload.file.rsplit(".", 1)[-1]
                # Named by content: identical bytes dedupe on the server, different never clash.
                sent = await self.client.upload_image(data, f"comfyweb-{upload.sha256[:24]}.{extension}")
                names[param] = sent.load_image_value
            prompt = build_prompt(ticket.graph, ticket.params_spec, ticket.values, names)
            queued = await self.client.queue_prompt(prompt, prompt_id=pid, client_id=self.client_id)
        except PromptRejected as error:
            self.tracked.pop(pid, None)
            await self._finish(ticket, JobStatus.FAILED, error=_rejection(error))
            return
        except ComfyUnavailable as error:
            self.tracked.pop(pid, None)
            await db(health.set_server_health)(self.server_id, online=False, error=str(error))
            await events.publish(
                await db(attempts.back_to_pending)(ticket.job_id, ticket.attempt, str(error))
            )
            return
        except (ComfyError, errors.ServiceError, ValueError) as error:
            self.tracked.pop(pid, None)
            await self._finish(
                ticket,
                JobStatus.FAILED,
                error={"code": "dispatch_failed", "message": str(error), "node": None},
            )
            return
        if queued.node_errors:
            # PROTOCOL.md §1: a 200 that still carries node_errors ran only part of the graph.
            self.tracked.pop(pid, None)
            await self.client.delete_from_queue([pid])
            await self.client.interrupt(pid)
            message = "\n".join(summarize_node_errors(queued.node_errors))
            first = next(iter(queued.node_errors), None)
            await self._finish(
                ticket, JobStatus.FAILED, error={"code": "invalid_prompt", "message": message, "node": first}
            )
            return
        await events.publish(await db(attempts.mark_queued)(ticket.job_id, ticket.attempt, queued.number))
        if await db(attempts.is_cancel_requested)(ticket.job_id):
            await self.cancel(ticket.job_id)

    async def _finish(self, ticket: attempts.Ticket, status: str, **kwargs: Any) -> None:
        await events.publish(await db(attempts.finish)(ticket.job_id, ticket.attempt, status, **kwargs))

    async def cancel(self, job_id: uuid.UUID) -> None:
        """Cancel a prompt of this server without touching anyone else's (SPEC §2.7).

        Queued: delete it from the queue. Running: interrupt it by its prompt_id; the server
        ignores a targeted interrupt for a prompt that is not the running one (PROTOCOL.md §1).
        """
        pid = str(job_id)
        await self.client.delete_from_queue([pid])
        queue = await self.client.get_queue()
        if pid in queue.running:
            await self.client.interrupt(pid)
            return
        if pid in queue.pending:
            return
        if await self.client.get_history(pid) is not None:
            return  # it finished meanwhile; the completion path stores its result
        tracked = self.tracked.pop(pid, None)
        attempt = tracked.attempt if tracked else await db(_attempt_of)(job_id)
        cancelled = {"code": "cancelled", "message": "Cancelled while queued.", "node": None}
        await events.publish(await db(attempts.finish)(job_id, attempt, JobStatus.CANCELLED, error=cancelled))

    # --- frames -------------------------------------------------------------------------

    async def handle(self, event: Event) -> None:
        if isinstance(event, m.Status):
            self.queue_remaining = event.queue_remaining
            return
        if isinstance(event, m.Preview):
            await self._preview(event)
            return
        pid = event.prompt_id
        tracked = self.tracked.get(pid) if pid else None
        if tracked is None:
            return  # not ours: another client's prompt, or a frame without prompt_id
        change = tracked.apply(event)
        if change == "start":
            await events.publish(await db(attempts.mark_running)(tracked.job_id, tracked.attempt))
            self._publish_progress(tracked)
        elif change == "progress":
            self._last_preview_prompt = pid
            self._publish_progress(tracked)
        elif change == "terminal":
            self._spawn(self.complete(pid))

    def _publish_progress(self, tracked: Tracked) -> None:
        value, maximum, node = tracked.progress()
        progress.record(tracked.job_id, value, maximum, node)
        self._spawn(
            events.publish([events.job_progress(tracked.tab_id, tracked.job_id, value, maximum, node)])
        )

    async def _preview(self, event: m.Preview) -> None:
        # Type 1 previews carry no prompt_id: they belong to the prompt whose progress came last.
        pid = event.prompt_id or self._last_preview_prompt
        tracked = self.tracked.get(pid) if pid else None
        if tracked is None:
            return
        data_url = f"data:{event.image_type};base64,{base64.b64encode(event.image).decode()}"
        self._spawn(events.publish([events.job_preview(tracked.tab_id, tracked.job_id, data_url)]))

    # --- completion ---------------------------------------------------------------------

    async def complete(self, pid: str) -> None:
        """Read the outcome from /history and store the outputs; safe to run twice."""
        if pid in self._completing:
            return
        self._completing.add(pid)
        try:
            tracked = self.tracked.get(pid)
            if tracked is None:
                return
            entry = None
            for wait in (0, 0.1, 0.3, 1.0):
                await asyncio.sleep(wait)
                entry = await self.client.get_history(pid)
                if entry is not None:
                    break
            if entry is None:
                log.warning("no history for finished prompt %s on %s", pid, self.name)
                return
            outcome = tracked.outcome or entry.outcome
            if outcome == "success":
                outputs = await self._download(tracked.job_id, entry)
                result = await db(attempts.finish)(
                    tracked.job_id, tracked.attempt, JobStatus.SUCCEEDED, outputs=outputs
                )
            elif outcome == "interrupted":
                cancelled = {"code": "cancelled", "message": "Cancelled while running.", "node": None}
                result = await db(attempts.finish)(
                    tracked.job_id, tracked.attempt, JobStatus.CANCELLED, error=cancelled
                )
            else:
                error = tracked.error or _history_error(entry)
                result = await db(attempts.finish)(
                    tracked.job_id, tracked.attempt, JobStatus.FAILED, error=error
                )
            self.tracked.pop(pid, None)
            await events.publish(result)
        except ComfyError as error:
            log.warning("completing %s on %s failed: %s", pid, self.name, error)
        finally:
            self._completing.discard(pid)

    async def _download(self, job_id: uuid.UUID, entry) -> list[attempts.StoredOutput]:
        stored: list[attempts.StoredOutput] = []
        counters: dict[str, int] = {}
        for image in entry.images():
            data = await self.client.view(image.filename, image.subfolder, image.type)
            index = counters.get(image.node_id, 0)
            counters[image.node_id] = index + 1
            width, height, content_type, extension = _describe_image(data)
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

    # --- reconciliation -----------------------------------------------------------------

    async def reconcile(self) -> None:
        """Bring every job placed on this server up to date from /history and /queue.

        Frames sent while no socket was open are lost (PROTOCOL.md §5), so after every
        (re)connect the server's own records decide: finished ones complete, queued or
        running ones keep waiting, vanished ones go back to pending for a new attempt.
        """
        try:
            active = await db(_active_with_graph)(self.server_id)
            if not active:
                return
            queue = await self.client.get_queue()
            for job_id, tab_id, attempt, status, nodes in active:
                pid = str(job_id)
                if status == JobStatus.PENDING and pid in self.tracked:
                    continue  # being dispatched by this relay right now
                tracked = self.tracked.setdefault(pid, Tracked(job_id, tab_id, attempt, nodes))
                if await self.client.get_history(pid) is not None:
                    self._spawn(self.complete(pid))
                elif pid in queue.running or pid in queue.pending:
                    tracked.started = tracked.started or pid in queue.running
                else:
                    self.tracked.pop(pid, None)
                    reason = "The prompt vanished from its server; trying again."
                    await events.publish(await db(attempts.back_to_pending)(job_id, attempt, reason))
        except ComfyError as error:
            log.warning("reconciling %s failed: %s", self.name, error)


def _active_with_graph(server_id: int) -> list[tuple[uuid.UUID, uuid.UUID, int, str, int]]:
    from jobs.models import ACTIVE_STATUSES, Job

    rows = Job.objects.filter(server_id=server_id, status__in=ACTIVE_STATUSES).select_related("workflow")
    return [(j.id, j.tab_id, j.attempt, j.status, len(j.workflow.graph)) for j in rows]


def _attempt_of(job_id: uuid.UUID) -> int:
    from jobs.models import Job

    return Job.objects.filter(id=job_id).values_list("attempt", flat=True).get()


def _rejection(error: PromptRejected) -> dict[str, Any]:
    nodes = list((error.node_errors or {}).keys())
    return {"code": "invalid_prompt", "message": error.summary(), "node": nodes[0] if nodes else None}


def _history_error(entry) -> dict[str, Any]:
    message = entry.error_message or {}
    if message:
        return {
            "code": "execution_error",
            "message": f"Node {message.get('node_id')} ({message.get('node_type')}) failed: "
            f"{message.get('exception_type')}: {message.get('exception_message')}",
            "node": message.get("node_id"),
        }
    return {"code": "execution_error", "message": "The server reported an error.", "node": None}


def _describe_image(data: bytes) -> tuple[int | None, int | None, str, str]:
    """Size, content type and file extension of a downloaded output, from its bytes."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = (image.format or "PNG").lower()
            return image.width, image.height, f"image/{kind}", {"jpeg": "jpg"}.get(kind, kind)
    except (OSError, ValueError, ProtocolError):
        return None, None, "application/octet-stream", "bin"
