"""One server as the relay sees it: its socket, the prompts it owns there, and their attempts.

Every call of an attempt goes through this watcher's own `ComfyClient`, which is bound to the
server's URL, so an attempt can reach no other server (SPEC §2.1) by construction.
Frames are routed by prompt_id to the owning tab; frames of prompts this relay did not queue
are dropped (PROTOCOL.md §3: a prompt without client_id is broadcast to every socket).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from jobs.comfy import (
    ComfyClient,
    ComfyError,
    ComfyHTTPError,
    ComfySocket,
    ComfyUnavailable,
    Event,
    PromptRejected,
    summarize_node_errors,
)
from jobs.comfy import messages as m
from jobs.core import attempts, events, instruments, progress, servers
from jobs.core.models import JobStatus
from jobs.core.workflows import build_prompt, upload_params
from jobs.pool import node_defs
from jobs.pool.inventory import Inventory, parse_object_info
from jobs.pool.trust import Trust
from jobs.relay import completion, health, mirror, misplaced, reconcile
from jobs.relay.early import EarlyResults
from jobs.relay.inputs import SentInputs, input_name
from jobs.relay.interrupts import supports_targeted_interrupt
from jobs.relay.tracking import Tracked, loader_nodes, node_titles

log = logging.getLogger(__name__)
db = database_sync_to_async

# How long a prompt's state write ("queued", "running") waits for the prompt's end before it
# goes alone: a quick prompt's end comes within milliseconds of the answer to its POST
# /prompt, and then its moves go in the finish's transaction, one trip and commit for the
# three (group commit, issue Y). A prompt that runs longer shows its state this much later.
MOVES_HOLD = 0.02
PROBE_EVERY = 2.0  # seconds between /queue probes while connected (health, sweep, positions)
PROBE_TIMEOUT = 3.0  # a healthy server answers /queue in milliseconds
PROBE_FAILURES = 2  # failed probes in a row before the socket is dropped as dead
MAX_BACKOFF = 5.0  # seconds between reconnect attempts at most (jittered)


class ServerWatcher:
    def __init__(
        self,
        server_id: int,
        name: str,
        url: str,
        client_id: str,
        *,
        version: str = "",
        client: ComfyClient | None = None,
        on_free: Callable[[], None] = lambda: None,
        on_done: Callable[[], None] | None = None,
        holder: str = "",
    ):
        self.server_id = server_id
        self.name = name
        self.url = url
        self.client_id = client_id
        self.client = client or ComfyClient(url, timeout=15.0)
        # Its own short timeout: a server that stops answering is noticed in seconds, while
        # uploads and downloads on the main client may take longer.
        self.probe_client = ComfyClient(url, timeout=PROBE_TIMEOUT)
        self.tracked: dict[str, Tracked] = {}
        self.connected = asyncio.Event()
        self.queue_remaining = 0
        self.version = version  # refreshed on every connect; decides how to interrupt
        self.on_free = on_free  # jobs may go now (a server that takes work, a job sent back)
        self.on_done = on_done or on_free  # a prompt ended: a slot in the queue freed up
        self.holder = holder  # this relay's lease holder: it vouches for the status written
        self.trust = Trust()
        # What it offers, as last read (jobs.pool.inventory), and when (monotonic).
        self.inventory: Inventory | None = None
        # Its node classes that are output nodes (/object_info): a success's frames are whole
        # only once each output node of its graph sent `executed` (Tracked.told_whole).
        self.output_classes: frozenset[str] | None = None
        self.inventory_read_at = 0.0
        # Probed on connect (refresh_info): how this server lets a prompt be cancelled.
        self.capabilities: frozenset[str] = frozenset()
        self._task: asyncio.Task[None] | None = None
        self._completing: set[str] = set()
        self._submitting: set[str] = set()
        self._ambiguous: set[str] = set()  # prompts whose POST /prompt got no answer
        self._background: set[asyncio.Task[Any]] = set()
        self._last_preview_prompt: str | None = None
        self._positions: dict[str, int] = {}
        self._chains: dict[str, asyncio.Task[None]] = {}  # per prompt: its latest state write
        # Per attempt: the moves not written yet, and the write that will take them. The
        # write takes them in the database thread, as it starts (_write_moves): the lock is
        # what the loop and that thread share.
        self._moves: dict[tuple[str, int], tuple[attempts.Moves, asyncio.Task[None]]] = {}
        self._moves_lock = threading.Lock()
        self._holds: dict[str, asyncio.Future[None]] = {}  # per prompt: its write's hold
        self._dirty: dict[str, events.Event] = {}  # per prompt: progress not yet published
        self._flush_due = False
        self.inputs = SentInputs()  # uploaded to this server, by content name
        self.early = EarlyResults(self.client)  # results fetched on their `executed` frame

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"watch-{self.name}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self.inputs.cancel()
        self.early.drop_all()
        await self.client.aclose()
        await self.probe_client.aclose()

    async def run(self) -> None:
        """Keep one socket open to the server, reconnecting with jittered exponential backoff.

        One socket per clientId at a time: the old socket is closed (context exit) before a
        new one opens, which avoids the server's orphaning bug (PROTOCOL.md §5).
        """
        delay = 0.5
        while True:
            try:
                async with ComfySocket(self.client.ws_url(self.client_id)) as sock:
                    delay = 0.5
                    self.inputs.clear()  # what was sent before may be gone (a restart)
                    self.connected.set()
                    await self.answered()
                    self._spawn(self.refresh_info())
                    self._spawn(self._guarded(reconcile.reconcile(self), "reconcile"))
                    probe = asyncio.create_task(self._probe(sock))
                    try:
                        async for event in sock:
                            await self.handle(event)
                    finally:
                        probe.cancel()
                        self.connected.clear()  # before the close awaits: no POST meanwhile
                        self.inputs.clear()
                        self._frames_lost()
                raise ComfyUnavailable("socket closed by the server")
            except asyncio.CancelledError:
                raise
            except (ComfyError, OSError) as error:
                self.connected.clear()
                log.info("server %s unreachable: %s", self.name, error)
                await self.unreachable(str(error))
            except Exception:
                self.connected.clear()
                log.exception("watcher of %s failed; restarting", self.name)
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, MAX_BACKOFF)

    def _frames_lost(self) -> None:
        """The socket closed (frames sent until the next one opens are lost), or a frame could
        not be read: the prompts in flight complete from /history."""
        for tracked in self.tracked.values():
            tracked.outputs = None

    async def answered(self, queue_remaining: int | None = None) -> None:
        """The server answered: online once it is trusted (jobs.pool.trust), and dispatch
        may use it at once; until then it stays offline, `offline_since` kept."""
        trusted_before = self.trust.trusted
        if self.trust.answered():
            await db(health.set_server_health)(
                self.server_id, online=True, queue_remaining=queue_remaining, holder=self.holder
            )
            if not trusted_before:
                self.on_free()  # it can take work from now on: dispatch at once
        else:
            streak = f"{self.trust.streak} of {self.trust.good_in_a_row}"
            await db(health.set_server_health)(
                self.server_id,
                online=False,
                error=f"Answering again after a failure ({streak} answers in a row before it takes work).",
                holder=self.holder,
            )

    async def unreachable(self, error: str) -> None:
        """The server failed: offline at once, counted as a flap if it was trusted."""
        flap = self.trust.failed()
        await db(health.set_server_health)(
            self.server_id, online=False, error=error, holder=self.holder, flap=flap
        )

    async def refresh_info(self, *, stats: bool = True) -> bool:
        """What the server is and offers: version and devices (/system_stats), node classes
        and model files (/object_info, jobs.pool.inventory). False when it did not answer.

        `stats=False` (the periodic re-read, and after a missing model): the inventory only,
        so that a re-read that finds nothing new writes nothing (free memory always changes).
        """
        try:
            system = await self.client.system_stats() if stats else None
            info = await self.client.object_info()
            inventory = parse_object_info(info)
            if stats:  # on connect: a server upgraded in place is seen then
                self.capabilities = await self._capabilities()
        except ComfyError as error:
            log.warning("could not read info of %s: %s", self.name, error)
            return False
        if system is not None:
            self.version = str(system.get("system", {}).get("comfyui_version", ""))
        self.inventory = inventory
        self.output_classes = frozenset(
            name for name, entry in info.items() if isinstance(entry, dict) and entry.get("output_node")
        )
        self.inventory_read_at = time.monotonic()
        capabilities = sorted(self.capabilities) if system is not None else None
        definitions = node_defs.definitions(info)
        recorded = db(health.record_info)
        if await recorded(self.server_id, self.version, system, inventory, capabilities, definitions):
            self.on_free()  # jobs waiting for a model this server now lists may go
        return True

    async def _capabilities(self) -> frozenset[str]:
        """What the server offers beyond 0.3.64: the Jobs API (probed by its route: no flag
        advertises it) and the flags `/features` sets, kept for operators."""
        found = {"jobs_api"} if await self.client.has_jobs_api() else set()
        try:
            features = await self.client.features()
        except ComfyHTTPError:
            features = {}  # a server without /features: nothing to add
        found.update(f"feature:{name}" for name, value in features.items() if value is True)
        return frozenset(found)

    async def _probe(self, sock: ComfySocket) -> None:
        """Ask /queue now and then: a liveness probe beside the socket, a sweep of silent
        prompts, and the queue positions of our queued prompts."""
        failures = 0
        while True:
            await asyncio.sleep(PROBE_EVERY)
            try:
                queue = await self.probe_client.get_queue()
            except ComfyError as error:
                failures += 1
                if failures >= PROBE_FAILURES:
                    log.info("server %s stopped answering: %s", self.name, error)
                    await sock.close()
                    return
                continue
            failures = 0
            if time.monotonic() - self.inventory_read_at >= settings.COMFYWEB_INVENTORY_EVERY:
                self.inventory_read_at = time.monotonic()  # one refresh at a time
                self._spawn(self.refresh_info(stats=False))  # models get copied onto servers
            self.queue_remaining = len(queue.running) + len(queue.pending)
            await self.answered(self.queue_remaining)
            await self._publish_positions(queue)
            await self._guarded(reconcile.sweep(self, queue), "sweep")

    async def _guarded(self, coro, what: str) -> None:
        try:
            await coro
        except ComfyError as error:
            log.warning("%s of %s failed: %s", what, self.name, error)

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _upload(self, data: bytes, name: str) -> str:
        return (await self.client.upload_image(data, name)).load_image_value

    def prefetch(self, stored: str, sha256: str, data: bytes) -> None:
        """Send an input ahead of its job (jobs.core.handoff.uploaded): the job finds it sent."""
        if self.connected.is_set():
            name = input_name(stored, sha256)
            self.inputs.send(name, functools.partial(self._upload, data, name))

    def is_dispatching(self, pid: str) -> bool:
        return pid in self._submitting

    # --- dispatch -----------------------------------------------------------------------

    async def submit(self, ticket: attempts.Ticket) -> None:
        """Upload the attempt's inputs and queue its prompt, all on this server."""
        pid = str(ticket.job_id)
        titles = node_titles(ticket.graph)
        self.tracked[pid] = Tracked(
            ticket.job_id,
            ticket.tab_id,
            ticket.attempt,
            len(ticket.graph),
            titles=titles,
            files=ticket.files,
            loaders=loader_nodes(ticket.graph),
            raw=ticket.raw,
            **self._watch_outputs(ticket.graph, pid),
        )
        self._submitting.add(pid)
        try:
            await self._submit(ticket, pid)
        finally:
            self._submitting.discard(pid)

    def _watch_outputs(self, graph: dict[str, Any], pid: str) -> dict[str, Any]:
        """Whether the prompt's results may be read from its frames, and the output nodes
        that must report: only if the socket is open before the POST (and no earlier POST of
        it may have run while another record of it took the frames), and the server's output
        classes are known."""
        if not self.connected.is_set() or pid in self._ambiguous or self.output_classes is None:
            return {}
        nodes = frozenset(
            str(node_id)
            for node_id, node in graph.items()
            if isinstance(node, dict) and node.get("class_type") in self.output_classes
        )
        return {"outputs": {}, "output_nodes": nodes} if nodes else {}

    async def _submit(self, ticket: attempts.Ticket, pid: str) -> None:
        # A POST /prompt of this attempt may have reached the server: find out first, so that
        # the job is never queued twice nor placed elsewhere while it runs here.
        if pid in self._ambiguous and not await self._settle_ambiguous(ticket, pid):
            return
        try:
            names = {}
            for param, upload_id in upload_params(ticket.params_spec, ticket.values).items():
                read = ticket.inputs.get(str(upload_id))  # read with the bind, usually
                stored, sha256, data = read or await db(attempts.upload_with_bytes)(upload_id)
                name = input_name(stored, sha256)  # sent before (ahead, or for another job): not again
                names[param] = await self.inputs.value(name, functools.partial(self._upload, data, name))
            prompt = build_prompt(ticket.graph, ticket.params_spec, ticket.values, names)
        except ComfyUnavailable as error:
            # Refused, reset, timed out or a 5xx before POST /prompt: nothing ran. Not an
            # attempt; the server is marked unreachable now, not at its next probe.
            await self.unreachable(str(error))
            await self._unbind(ticket, pid)
            return
        except (ComfyError, ValueError, OSError) as error:
            await self._dispatch_failed(ticket, pid, error)
            return
        try:
            queued = await self.client.queue_prompt(
                prompt, prompt_id=pid, client_id=self.client_id, extra_data=ticket.extra_data
            )
        except PromptRejected as error:
            self.tracked.pop(pid, None)
            lacking = misplaced.missing_node(error.error)
            if lacking is not None and await self._lacks_node(ticket, lacking):
                return
            missing = misplaced.in_rejection(error.node_errors, self.inventory)
            if missing and await self._placed_again(ticket.job_id, ticket.attempt, missing):
                return
            await self._finish(ticket, JobStatus.FAILED, error=self._public(_rejection(error)))
            return
        except ComfyUnavailable as error:
            if error.status is not None:
                self.tracked.pop(pid, None)
                # The server answered 5xx to the prompt itself: the graph may be what crashes
                # it, so this counts as an attempt and says nothing of the server's health
                # (one poison job must not knock the pool out server by server).
                await db(health.note_error)(self.server_id, str(error))
                reason = self._public({"message": f"The server {self.name} failed on the job: {error}"})
                found = await db(attempts.back_to_pending)(ticket.job_id, ticket.attempt, reason["message"])
                await events.publish(found)
                self.on_free()  # it waits again: placed at the next pass, not the next poll
                return
            # No answer: the prompt may or may not be queued. Settle it before anything else.
            self._ambiguous.add(pid)
            await self._settle_ambiguous(ticket, pid, error=error)
            return
        except (ComfyError, ValueError, OSError) as error:
            await self._dispatch_failed(ticket, pid, error)
            return
        if queued.node_errors:
            # PROTOCOL.md §1: a 200 that still carries node_errors runs only part of the graph.
            self.tracked.pop(pid, None)
            await self._stop_prompt(pid)
            message = "\n".join(summarize_node_errors(queued.node_errors))
            first = next(iter(queued.node_errors), None)
            failure = {"code": "invalid_prompt", "message": message, "node": first}
            await self._finish(ticket, JobStatus.FAILED, error=failure)
            return
        if ticket.created_at is not None:
            instruments.dispatched((timezone.now() - ticket.created_at).total_seconds())
        await self._move(pid, ticket.job_id, ticket.attempt, queued=True, number=queued.number)

    async def _settle_ambiguous(
        self, ticket: attempts.Ticket, pid: str, error: ComfyError | None = None
    ) -> bool:
        """After a POST /prompt with no answer: is the prompt on the server?

        Found queued, running or finished: the attempt goes on here (True is never returned
        then: there is nothing left to submit). Not found on a server that answers: nothing
        ran, so it was no attempt and the job is placed again (True when the caller should
        submit now). No answer at all: the server is unreachable, and the job stays bound to
        it until it answers or its tab fails over (False).
        """
        try:
            queue = await self.client.get_queue()
            entry = None if pid in queue else await self.client.get_history(pid)
        except ComfyError as lookup_error:
            self.tracked.pop(pid, None)  # untracked, so that the relay's bound pass tries again
            await self.unreachable(str(error or lookup_error))
            return False
        self._ambiguous.discard(pid)
        if pid in queue or entry is not None:
            log.info("prompt %s reached %s after all; following it there", pid, self.name)
            queued = attempts.Moves(queued=True)  # its number unknown: no answer came
            found, cancel = await db(attempts.advance)(ticket.job_id, ticket.attempt, queued)
            await events.publish(found)
            if cancel:
                await self.cancel(ticket.job_id)
            elif entry is not None:
                self.complete_later(pid)
            return False
        if error is None:
            return True  # a resubmission: submit it now
        await self._unbind(ticket, pid)
        return False

    async def _unbind(self, ticket: attempts.Ticket, pid: str) -> None:
        """Nothing of the attempt reached the server: no attempt (attempts.unbind), and the
        job is placed again now, on a live server if its tab's lock moved."""
        self.tracked.pop(pid, None)
        await events.publish(await db(attempts.unbind)(ticket.job_id, ticket.attempt))
        self.on_free()

    async def _missing_model(self, tracked: Tracked, missing: list[misplaced.Missing]) -> bool:
        return await self._placed_again(tracked.job_id, tracked.attempt, missing)

    async def _placed_again(self, job_id: uuid.UUID, attempt: int, missing: list[misplaced.Missing]) -> bool:
        """The server lacks a model file its inventory listed (jobs.relay.misplaced): forget
        the file, re-read the inventory, and place the job again without spending an
        attempt. False when the fresh inventory still lists the file: then the failure is
        the file's own and counts as usual, so that no job loops."""
        for key, file in missing:
            await db(servers.forget_model)(self.server_id, key, file)
        if await self.refresh_info(stats=False) and misplaced.still_listed(self.inventory, missing):
            return False
        files = ", ".join(sorted({file for _, file in missing}))
        await self._move_at_no_cost(
            job_id, attempt, f"Lacks {files}, which its model list showed; job moved."
        )
        return True

    async def _lacks_node(self, ticket: attempts.Ticket, class_type: str) -> bool:
        """A current server's `missing_node_type`: its node list was stale. Re-read it and
        place the job elsewhere at no attempt cost, unless it still lists the class."""
        if (
            await self.refresh_info(stats=False)
            and self.inventory
            and class_type in self.inventory.node_classes
        ):
            return False
        await self._move_at_no_cost(ticket.job_id, ticket.attempt, f"Lacks the node {class_type}; job moved.")
        return True

    async def _move_at_no_cost(self, job_id: uuid.UUID, attempt: int, why: str) -> None:
        """The server lacked what its lists showed: noted for staff, and the job is placed
        again without spending an attempt (attempts.unbind)."""
        log.info("%s: %s (job %s)", self.name, why, job_id)
        await db(health.note_error)(self.server_id, why)
        await events.publish(await db(attempts.unbind)(job_id, attempt, ran=True))
        self.on_free()

    async def _dispatch_failed(self, ticket: attempts.Ticket, pid: str, error: Exception) -> None:
        """An answer that makes no sense for this job (a 4xx, a malformed answer): it fails."""
        self.tracked.pop(pid, None)
        await db(health.note_error)(self.server_id, str(error))
        message = f"The server {self.name} refused the job ({type(error).__name__})."
        if isinstance(error, ComfyHTTPError):
            message = f"The server {self.name} answered HTTP {error.status} to the job."
        failure = {"code": "dispatch_failed", "message": message, "node": None}
        await self._finish(ticket, JobStatus.FAILED, error=failure)

    def _public(self, error: dict[str, Any]) -> dict[str, Any]:
        """A job error users may read: the server's URL is for staff only (SPEC §4)."""
        return {**error, "message": str(error.get("message", "")).replace(self.url, self.name)}

    async def _finish(self, ticket: attempts.Ticket, status: str, **kwargs: Any) -> None:
        await events.publish(await db(attempts.finish)(ticket.job_id, ticket.attempt, status, **kwargs))

    # --- cancel -------------------------------------------------------------------------

    async def cancel(self, job_id: uuid.UUID) -> None:
        """Cancel a prompt of this server without touching anyone else's (SPEC §2.7).

        Queued: delete it from the queue. Running: interrupt it by its prompt_id, which the
        server ignores unless that prompt is the one running (PROTOCOL.md §1).
        """
        pid = str(job_id)
        if await self._stop_prompt(pid):
            return  # running: the interrupt's terminal frame finishes the job as cancelled
        if await self.client.get_history(pid) is not None:
            return  # it finished meanwhile; the completion path stores its result
        tracked = self.tracked.pop(pid, None)
        attempt = tracked.attempt if tracked else await db(_attempt_of)(job_id)
        cancelled = {"code": "cancelled", "message": "Cancelled while queued.", "node": None}
        await events.publish(await db(attempts.finish)(job_id, attempt, JobStatus.CANCELLED, error=cancelled))

    async def _stop_prompt(self, pid: str) -> bool:
        """Take a prompt off this server; True when it was running and got interrupted.

        A server with the Jobs API cancels by id, race-free (docs/comfyui-versions.md §3);
        an older one gets a queue delete and an interrupt guarded as well as it allows.
        """
        if "jobs_api" in self.capabilities:
            if not await self.client.cancel_job(pid):
                return False  # neither queued nor running: finished, or never there
            return pid in (await self.client.get_queue()).running  # interrupted: frames follow
        await self.client.delete_from_queue([pid])
        queue = await self.client.get_queue()
        if pid not in queue.running:
            return False
        if supports_targeted_interrupt(self.version):
            await self.client.interrupt(pid)
        else:
            # An untargeted interrupt stops whatever runs: send it only while ours is the one
            # running (checked just above), the best an older server allows.
            await self.client.interrupt()
        return True

    # --- frames -------------------------------------------------------------------------

    async def handle(self, event: Event) -> None:
        if isinstance(event, m.Status):
            self.queue_remaining = event.queue_remaining
            return
        if isinstance(event, m.Preview):
            self._preview(event)
            return
        pid = event.prompt_id
        if not pid:
            if isinstance(event, m.Unknown) and event.type == "executed":
                self._frames_lost()  # a result of some prompt, unread
            return  # a frame without prompt_id
        tracked = self.tracked.get(pid)
        if tracked is None:
            return  # not ours: another client's prompt
        if tracked.raw:
            self._mirror(pid, tracked, event)
        change = tracked.apply(event)
        if isinstance(event, m.Executed) and event.output and tracked.outputs is not None:
            self.early.executed(pid, event.node, event.output)
        if change == "start":
            self._forget_position(pid)
            self._move(pid, tracked.job_id, tracked.attempt, running=True)
            self._publish_progress(pid, tracked)
        elif change == "progress":
            self._last_preview_prompt = pid
            self._publish_progress(pid, tracked)
        elif change == "terminal":
            self.complete_later(pid)

    def _mirror(self, pid: str, tracked: Tracked, event: Event) -> None:
        """A raw-graph job's frame to its client's socket, in order with the job's state
        changes: every frame reaches the tab before the job's end does."""
        frame = mirror.frame_of(event, tracked.job_id)
        if frame is not None:
            self._in_order(pid, events.publish([mirror.frame_event(tracked.tab_id, tracked.job_id, frame)]))

    def _move(
        self,
        pid: str,
        job_id: uuid.UUID,
        attempt: int,
        *,
        queued: bool = False,
        number: float | None = None,
        running: bool = False,
    ) -> asyncio.Task[None]:
        """Ask for a move of the attempt, written in order with the prompt's other state
        writes (_in_order). Moves asked for before the write takes them go in its one trip and
        transaction (attempts.advance): a prompt that starts at once is queued and running
        in one commit, each with its event. Returns the write, done once they are stored."""
        with self._moves_lock:
            found = self._moves.get((pid, attempt))
            if found is None:
                task = self._in_order(pid, self._write_moves(pid, job_id, attempt))
                self._moves[(pid, attempt)] = found = (attempts.Moves(), task)
            moves, task = found
            if queued:
                moves.queued, moves.prompt_number = True, number
            moves.running = moves.running or running
        return task

    async def _write_moves(self, pid: str, job_id: uuid.UUID, attempt: int, hold: bool = True) -> None:
        if hold and await self._ends_within_hold(pid):
            return  # its completion writes the moves with the end (_complete)

        def take_and_write() -> tuple[list[events.Event], bool]:
            # Taken here, in the database thread, not when the write was scheduled: a start
            # whose frame came while the queueing waited for the thread goes in the same trip
            # and commit. From now on, a move asked for makes the next write.
            moves = self._take_moves(pid, attempt)
            return attempts.advance(job_id, attempt, moves) if moves else ([], False)

        found, cancel = await db(take_and_write)()
        await events.publish(found)
        if cancel:  # asked for while it was being queued
            await self.cancel(job_id)

    async def _ends_within_hold(self, pid: str) -> bool:
        """Whether the prompt ended, or ends within MOVES_HOLD (complete_later)."""
        if pid not in self._completing:
            waiter = self._holds[pid] = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(waiter, MOVES_HOLD)
            except TimeoutError:
                pass
            finally:
                if self._holds.get(pid) is waiter:
                    del self._holds[pid]
        return pid in self._completing

    def _take_moves(self, pid: str, attempt: int) -> attempts.Moves | None:
        """The attempt's moves not written yet, for the write that takes them (in the
        database thread: the lock is what it shares with the loop)."""
        with self._moves_lock:
            found = self._moves.pop((pid, attempt), None)
        return found[0] if found else None

    def _write_moves_left(self, pid: str, job_id: uuid.UUID, attempt: int) -> None:
        """Moves a completion left (it did not end the attempt): written now, on their own."""
        with self._moves_lock:
            found = self._moves.get((pid, attempt))
            if found is not None:
                task = self._in_order(pid, self._write_moves(pid, job_id, attempt, hold=False))
                self._moves[(pid, attempt)] = (found[0], task)

    def _in_order(self, pid: str, coro) -> asyncio.Task[None]:
        """Run a prompt's state writes one after another, off the frame loop: the loop never
        waits for the database, so one slow write delays no other prompt's frames."""
        previous = self._chains.get(pid)

        async def chained() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            await coro

        task = asyncio.create_task(chained())
        self._chains[pid] = task
        self._background.add(task)
        task.add_done_callback(lambda done: self._chain_done(pid, done))
        return task

    def _chain_done(self, pid: str, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if self._chains.get(pid) is task:
            del self._chains[pid]
        if not task.cancelled() and task.exception() is not None:
            log.error("state write of %s on %s failed", pid, self.name, exc_info=task.exception())

    def _publish_progress(self, pid: str, tracked: Tracked) -> None:
        """Record the prompt's progress and publish it once per turn of the event loop: a
        burst of frames for one job costs one message to its tab, carrying the latest."""
        value, maximum, node = tracked.progress()
        title = tracked.title(node)
        reading = progress.snapshot(value, maximum, node, title, "loading" if tracked.loading else None)
        progress.record(tracked.job_id, reading)
        self._dirty[pid] = events.job_progress_of(tracked.tab_id, tracked.job_id, reading)
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush_progress)

    def _flush_progress(self) -> None:
        self._flush_due = False
        dirty, self._dirty = self._dirty, {}
        now = []
        for pid, event in dirty.items():
            if pid in self._completing:
                continue  # it ended in this same turn: the final state says it all
            if not self._after_state_write(pid, event):
                now.append(event)
        if now:
            self._spawn(events.publish(now))

    def _after_state_write(self, pid: str, event: events.Event) -> bool:
        """Publish `event` after the prompt's state write in flight ("queued", "running"), if
        one is, so that the tab hears the state first; False when none is."""
        if pid not in self._chains:
            return False
        self._in_order(pid, events.publish([event]))
        return True

    def _preview(self, event: m.Preview) -> None:
        # Type 1 previews carry no prompt_id: they belong to the prompt whose progress came last.
        pid = event.prompt_id or self._last_preview_prompt
        tracked = self.tracked.get(pid) if pid else None
        if tracked is None or pid is None:
            return
        if tracked.raw:
            found = mirror.preview_event(tracked.tab_id, tracked.job_id, event, tracked.current)
            self._in_order(pid, events.publish([found]))
            return
        data_url = f"data:{event.image_type};base64,{base64.b64encode(event.image).decode()}"
        self._spawn(events.publish([events.job_preview(tracked.tab_id, tracked.job_id, data_url)]))

    async def _publish_positions(self, queue) -> None:
        """Queued prompts' places in the server's queue (0 = next), sent when they change."""
        # One pass over the queue: with hundreds queued, a search per prompt would be quadratic.
        places = {pid: place for place, pid in enumerate(queue.pending)}
        found = []
        for pid, tracked in self.tracked.items():
            place = places.get(pid)  # 0: next to run once the running prompt ends
            if place is None or tracked.started:
                continue
            if self._positions.get(pid) != place:
                self._positions[pid] = place
                progress.set_queue_position(tracked.job_id, place)
                event = events.job_queue(tracked.tab_id, tracked.job_id, place)
                if not self._after_state_write(pid, event):  # "queued"'s JOB says null
                    found.append(event)
        if found:
            await events.publish(found)

    async def _learn(self, tracked: Tracked) -> None:
        """What the finished prompt says of the server's warm models (jobs.pool.warmth)."""
        seconds = tracked.run_seconds
        if tracked.files and seconds is not None:
            await db(servers.learn_warmth)(self.server_id, list(tracked.files), seconds)

    def _forget_position(self, pid: str) -> None:
        self._positions.pop(pid, None)
        with contextlib.suppress(ValueError):
            progress.set_queue_position(uuid.UUID(pid), None)

    # --- completion ---------------------------------------------------------------------

    def complete_later(self, pid: str) -> None:
        if pid not in self._completing:
            self._completing.add(pid)
            hold = self._holds.pop(pid, None)
            if hold is not None and not hold.done():
                hold.set_result(None)  # its state write stops waiting: the end takes the moves
            self._in_order(pid, self._complete(pid))

    async def _complete(self, pid: str) -> None:
        tracked = self.tracked.get(pid)
        ahead = self.early.pop(pid)
        try:
            done = tracked is not None and await completion.complete(
                self.client,
                tracked,
                self.name,
                self._missing_model,
                take_moves=functools.partial(self._take_moves, pid, tracked.attempt),
                ahead=ahead,
            )
            if done and tracked is not None and tracked.outcome == "success":
                await self._learn(tracked)
            if done and self.tracked.get(pid) is tracked:
                del self.tracked[pid]
            if done:
                self.on_done()
        except ComfyError as error:
            log.warning("completing %s on %s failed: %s; the sweep will retry", pid, self.name, error)
        finally:
            if ahead is not None:
                ahead.drop()
            self._completing.discard(pid)
            self._positions.pop(pid, None)
            if tracked is not None:
                self._write_moves_left(pid, tracked.job_id, tracked.attempt)


def _attempt_of(job_id: uuid.UUID) -> int:
    from jobs.core.models import Job

    return Job.objects.filter(id=job_id).values_list("attempt", flat=True).get()


def _rejection(error: PromptRejected) -> dict[str, Any]:
    nodes = list((error.node_errors or {}).keys())
    return {"code": "invalid_prompt", "message": error.summary(), "node": nodes[0] if nodes else None}
