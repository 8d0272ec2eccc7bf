"""The relay: the only part of ComfyWeb that talks to ComfyUI.

A loop of small steps (STYLE §5): keep one watcher per enabled server, dispatch pending jobs
to their tab's server, and act on nudges from web processes (new job, cancel). The database
is the source of truth: the relay polls it, so a lost nudge costs latency, never a job.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import uuid
from typing import Any

import httpx
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from jobs.comfy import ComfyError
from jobs.core import attempts, callbacks, events, handoff, instruments, progress, tabs
from jobs.core.heartbeat import STATE
from jobs.core.models import Job, Server
from jobs.pool.balancer import UNPLANNED
from jobs.pool.dispatch import Reservations, Waiting, fair_order, positions
from jobs.relay import leases, webhooks
from jobs.relay.watcher import ServerWatcher

log = logging.getLogger(__name__)
db = database_sync_to_async

HOUSEKEEPING_EVERY = 2.0
# Seconds between reads of the server list and lease renewals, at most; a "pool" or "refresh"
# nudge (an operator's change) makes the next step read it at once. Well inside the lease.
SYNC_EVERY = 1.0
# How often the relay looks for webhooks to call (issue T) while calls are being made or jobs
# end; with none due, it looks again when the soonest retry is due, at most WEBHOOKS_IDLE
# later: an idle pool costs two queries every five seconds, not one every half second.
WEBHOOKS_EVERY = 0.5
WEBHOOKS_IDLE = 5.0


def _enabled_servers() -> list[tuple[int, str, str, str, str]]:
    return list(Server.objects.filter(enabled=True).values_list("id", "name", "url", "client_id", "version"))


def _server_of(job_id: uuid.UUID) -> int | None:
    return Job.objects.filter(id=job_id).values_list("server_id", flat=True).first()


class Relay:
    def __init__(self, *, poll_interval: float | None = None, role: str = "relay") -> None:
        self.poll_interval = poll_interval or settings.COMFYWEB_RELAY_POLL
        self.relay_id, self.holder = leases.relay_identity(role)
        self.watchers: dict[int, ServerWatcher] = {}
        self._dispatching: set[uuid.UUID] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        # Whether a job may wait unbound: False once a pass left none and nothing came since
        # (a nudge, a job sent back to pending, a poll). A prompt that only ended frees a slot
        # and needs no pass then: at one tab, that was every other read of the waiting jobs.
        self._maybe_waiting = True
        self._next_housekeeping = 0.0
        self._next_sync = 0.0
        self._next_bound_check = 0.0
        self._positions: dict[uuid.UUID, tuple[int, str | None]] = {}
        # Why jobs wait beyond their place in the queue (no server reachable, a server with
        # their model offline, their tab's jobs elsewhere), as the last pass found.
        self._reasons: dict[uuid.UUID, dict[str, Any]] = {}
        self._stranded_since: float | None = None  # since when no server has been reachable
        self._next_webhooks = 0.0
        self._last_webhooks = 0.0
        self._job_ended = False  # since the last look for webhooks: one may be due now
        self._webhooks: asyncio.Task | None = None
        self._webhook_client: httpx.AsyncClient | None = None
        # Whether this relay watches every enabled server, as its last sync found: then a
        # submission in this process may bind its job and hand over the ticket (handoff).
        self._holds_all = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # Its own context, for what another thread asks of it (_soon): a request's context
        # carries the request's state (events' after-hop queue, asgiref's thread of record),
        # which the relay's tasks must not inherit.
        self._context: contextvars.Context | None = None

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        STATE["running"] = True
        self._loop = asyncio.get_running_loop()
        self._context = contextvars.copy_context()
        handoff.register(self)
        listener = asyncio.create_task(self.listen())
        try:
            while not stop.is_set():
                await self.step()
                due = time.monotonic() + self.poll_interval
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                if not self._wake.is_set():
                    instruments.relay_lag(time.monotonic() - due)
                    self._maybe_waiting = True  # the poll reads the waiting jobs whatever came
                self._wake.clear()
        finally:
            handoff.unregister(self)
            self._holds_all = False
            listener.cancel()
            await self.close()
            await db(leases.release)(self.holder)
            STATE["running"] = False

    async def step(self) -> None:
        """One pass: follow the server list, then dispatch whatever is pending."""
        STATE["last_poll"] = time.time()
        try:
            # A step runs on every nudge (every submission, every finished prompt): the server
            # list and leases change rarely, so they are read at most every SYNC_EVERY.
            if time.monotonic() >= self._next_sync:
                self._next_sync = time.monotonic() + min(SYNC_EVERY, settings.COMFYWEB_RELAY_LEASE / 3)
                await self.sync_servers()
            await self.dispatch_pending()
            # Jobs bound but not queued by this relay (bound by another relay, or left by one
            # that died) are rare: looked for at most every SYNC_EVERY, not on every wake.
            if time.monotonic() >= self._next_bound_check:
                self._next_bound_check = time.monotonic() + SYNC_EVERY
                await self.submit_bound()
            now = time.monotonic()
            if now >= self._next_webhooks or (
                self._job_ended and now >= self._last_webhooks + WEBHOOKS_EVERY
            ):
                self._job_ended = False
                self._last_webhooks = now
                self._next_webhooks = now + WEBHOOKS_EVERY  # until the round says how long
                await self.call_webhooks()
            if time.monotonic() >= self._next_housekeeping:
                self._next_housekeeping = time.monotonic() + HOUSEKEEPING_EVERY
                await self.housekeeping()
        except Exception:
            log.exception("relay step failed")

    async def call_webhooks(self) -> None:
        """Post ended jobs' webhooks that are due (jobs.relay.webhooks), in the background: a
        slow receiver never holds up dispatch."""
        if self._webhooks is not None and not self._webhooks.done():
            return
        if self._webhook_client is None:
            self._webhook_client = webhooks.new_client()
        self._webhooks = asyncio.get_running_loop().create_task(self._webhook_round(self._webhook_client))
        self._tasks.add(self._webhooks)
        self._webhooks.add_done_callback(self._tasks.discard)

    async def _webhook_round(self, client: httpx.AsyncClient) -> None:
        """Make the due calls; with none due, look again when the soonest may be."""
        if await webhooks.deliver_due(client):
            return
        wait = await db(callbacks.seconds_to_next_due)(WEBHOOKS_IDLE)
        self._next_webhooks = self._last_webhooks + max(wait, WEBHOOKS_EVERY)

    async def housekeeping(self) -> None:
        """Periodic work: fail over tabs of long-unreachable servers, clean up gone tabs."""
        moved = await db(attempts.fail_over_unreachable)(settings.COMFYWEB_FAILOVER_AFTER)
        if moved:
            self._job_ended = True  # some may have run out of attempts
            self.wake_for_jobs()  # sent back to pending
        await events.publish(moved)
        closed = await db(tabs.close_gone_tabs)(settings.COMFYWEB_TAB_GRACE)
        if closed:
            log.info("cleaned up %d closed tabs", closed)

    async def close(self) -> None:
        if self._webhook_client is not None:
            await self._webhook_client.aclose()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for watcher in list(self.watchers.values()):
            await watcher.stop()
        self.watchers.clear()

    async def sync_servers(self) -> None:
        """Watch exactly the enabled servers whose lease this relay holds (renewed here)."""
        enabled = {row[0]: row for row in await db(_enabled_servers)()}
        held = await db(leases.claim)(list(enabled), self.holder, settings.COMFYWEB_RELAY_LEASE)
        wanted = {server_id: row for server_id, row in enabled.items() if server_id in held}
        self._holds_all = bool(enabled) and len(wanted) == len(enabled)
        for server_id in set(self.watchers) - set(wanted):
            await self.watchers.pop(server_id).stop()
        for server_id, (_, name, url, client_id, version) in wanted.items():
            current = self.watchers.get(server_id)
            if current and current.url == url:
                continue
            if current:
                await current.stop()
            # One client id per relay (stable across its restarts): a relay taking over from
            # another never shares a client id with a socket that may still be open
            # (PROTOCOL.md §5); prompts of the other relay complete from /history.
            watcher = ServerWatcher(
                server_id,
                name,
                url,
                f"{client_id}-{self.relay_id}"[:120],
                version=version,
                on_free=self.wake_for_jobs,
                on_done=self._prompt_ended,
                holder=self.holder,
            )
            watcher.start()
            self.watchers[server_id] = watcher

    async def dispatch_pending(self) -> None:
        """Bind waiting jobs to servers in the fair order, then upload and queue them.

        Binding is one quick transaction per job, done in order so the fair order holds (a
        job that must wait reserves the capacity it waits for); the slow part (uploads,
        /prompt) runs concurrently, one task per attempt.
        """
        if not self._maybe_waiting:
            return  # none waited at the last pass, and none came since
        self._maybe_waiting = False  # before the read: what comes during the pass sets it again
        warm = settings.COMFYWEB_WARM_PLACEMENT
        order, first = await db(_waiting_then_first)(frozenset(self._dispatching), warm)
        # Positions as the jobs wait now (not the one just started: it waits no more); the
        # reason to wait is the last pass's.
        started = first[0] if first is not None and not isinstance(first[1], Exception) else None
        await self._publish_positions([job for job in order if job.job_id != started], self._reasons)
        plans: dict[uuid.UUID, Any] = {}
        if warm and attempts.any_needs_models(order):
            plans, settled_in = await db(attempts.plan_placements)(order)
            if settled_in is not None:  # a pass when held-back jobs may be placed
                asyncio.get_running_loop().call_later(settled_in, self._wake.set)
        reserved = Reservations()
        no_server: set[uuid.UUID] = set()
        reasons: dict[uuid.UUID, dict[str, Any]] = {}
        for job in order:
            if job.job_id in self._dispatching or not reserved.allows(job):
                if job.job_id in self._reasons:
                    reasons[job.job_id] = self._reasons[job.job_id]  # not asked again: as before
                continue
            try:
                if first is not None and first[0] == job.job_id:
                    ticket, found = _bound(first[1])  # in the pass's first trip
                else:
                    ticket, found = await db(attempts.start_attempt_with_inputs)(
                        job.job_id, reserved.avoid, plans.get(job.job_id, UNPLANNED)
                    )
            except attempts.WaitForRoom as wait:
                reserved.waited(job, wait.reserves)
                if not wait.reachable:
                    no_server.add(job.job_id)
                elif wait.reason is not None:
                    reasons[job.job_id] = wait.reason
                continue
            except Exception:
                log.exception("binding job %s failed", job.job_id)
                continue
            await events.publish(found)
            if ticket is not None and ticket.server_id in self.watchers:
                self._dispatching.add(job.job_id)
                self._spawn(self.submit(ticket))
        if any(job.job_id not in self._dispatching for job in order):
            self._maybe_waiting = True  # some wait on: every freed slot may let them go
        # No server reachable: every job still waiting waits for that reason.
        if no_server:
            no_server.update(job.job_id for job in order if job.job_id not in self._dispatching)
            reasons = dict.fromkeys(no_server, progress.NO_SERVER)
        if reasons != self._reasons:
            self._reasons = reasons
            self._wake.set()  # tell the cards now, not at the next pass
        await self._fail_stranded(no_server)

    async def _fail_stranded(self, no_server: set[uuid.UUID]) -> None:
        """With COMFYWEB_FAIL_WAITING_AFTER set, jobs stop waiting for a pool that stays
        unreachable that long (measured from when no server was reachable)."""
        if not no_server:
            self._stranded_since = None
            return
        now = time.monotonic()
        self._stranded_since = self._stranded_since or now
        after = settings.COMFYWEB_FAIL_WAITING_AFTER
        if after > 0 and now - self._stranded_since >= after:
            failed = await db(attempts.fail_stranded)(list(no_server), after)
            self._job_ended = self._job_ended or bool(failed)
            await events.publish(failed)

    async def submit_bound(self) -> None:
        """Queue jobs bound to this relay's servers but not submitted: bound by another
        relay, or left half-way by a relay that died (the prompt id is the job id, so
        queueing it again is safe: reconciliation found it on neither queue nor history)."""
        if not self.watchers:
            return
        for ticket in await db(attempts.bound_tickets)(list(self.watchers)):
            watcher = self.watchers.get(ticket.server_id)
            pid = str(ticket.job_id)
            if watcher is None or ticket.job_id in self._dispatching or pid in watcher.tracked:
                continue
            self._dispatching.add(ticket.job_id)
            self._spawn(self.submit(ticket))

    async def submit(self, ticket: attempts.Ticket) -> None:
        try:
            watcher = self.watchers.get(ticket.server_id)
            if watcher is not None:
                await watcher.submit(ticket)
        except Exception:
            log.exception("dispatch of %s failed", ticket.job_id)
        finally:
            self._dispatching.discard(ticket.job_id)

    async def _publish_positions(
        self, order: list[Waiting], reasons: dict[uuid.UUID, dict[str, Any]]
    ) -> None:
        """Tell waiting jobs their place in ComfyWeb's queue, and why they wait beyond it
        (no server reachable, no server with their model online…), when either changes (no
        DB write)."""
        now = {
            job_id: (place, (reasons.get(job_id) or {}).get("message"))
            for job_id, place in positions(order).items()
        }
        changed = [job_id for job_id, seen in now.items() if self._positions.get(job_id) != seen]
        self._positions = now
        if not changed:
            return
        tabs_of = {job.job_id: job.tab_id for job in order}  # read with the waiting jobs
        found = []
        for job_id in changed:
            place = now[job_id][0]
            reason = reasons.get(job_id)
            progress.set_queue_position(job_id, place)
            progress.set_waiting(job_id, reason)
            tab_id = tabs_of.get(job_id)
            if tab_id is not None:
                found.append(events.job_queue(tab_id, job_id, place, reason))
        await events.publish(found)

    async def cancel(self, job_id: uuid.UUID) -> None:
        server_id = await db(_server_of)(job_id)
        watcher = self.watchers.get(server_id) if server_id else None
        if watcher is None:
            return
        try:
            await watcher.cancel(job_id)
        except ComfyError as error:
            log.warning("cancel of %s failed: %s", job_id, error)

    async def listen(self) -> None:
        """Nudges from web processes: wake up to dispatch, or cancel a job on its server."""
        layer = get_channel_layer()
        while True:
            try:
                message = await layer.receive(events.RELAY_CHANNEL)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("relay channel receive failed")
                await asyncio.sleep(1)
                continue
            reason = message.get("reason")
            self._job_ended = True  # a cancel, a retry…: a webhook may be due sooner
            if reason in ("pool", "refresh"):
                self._next_sync = 0.0
            if reason == "cancel":
                with contextlib.suppress(ValueError):
                    self._spawn(self.cancel(uuid.UUID(str(message.get("job")))))
            elif reason == "refresh":
                watcher = self.watchers.get(message.get("server"))
                if watcher is not None:
                    self._spawn(watcher.refresh_info())
            self.wake_for_jobs()

    def _prompt_ended(self) -> None:
        """A slot freed (a pass only if jobs may wait), and a webhook may be due."""
        self._job_ended = True
        self._wake.set()

    def holds_every_server(self) -> bool:
        return self._holds_all

    def take(self, ticket: attempts.Ticket) -> None:
        """A job bound where it was submitted (jobs.core.handoff), from any thread: queued on
        its server as a pass would queue it. A relay that stopped leaves it bound: the relay
        that holds its server next submits it (submit_bound)."""
        self._soon(self._take, ticket)

    def prefetch(self, server_id: int, stored: str, sha256: str, data: bytes) -> None:
        """Send an upload to the server its job will likely run on (jobs.core.handoff), from
        any thread."""
        self._soon(self._prefetch, server_id, stored, sha256, data)

    def _soon(self, callback: Any, *args: Any) -> None:
        """Run `callback(*args)` on the relay's loop, from any thread; nothing once it stopped."""
        loop, context = self._loop, self._context
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback, *args, context=context)

    def _prefetch(self, server_id: int, stored: str, sha256: str, data: bytes) -> None:
        watcher = self.watchers.get(server_id)
        if watcher is not None:
            watcher.prefetch(stored, sha256, data)

    def _take(self, ticket: attempts.Ticket) -> None:
        if ticket.job_id in self._dispatching or ticket.server_id not in self.watchers:
            return  # already on its way, or for submit_bound to find (a server not watched now)
        self._dispatching.add(ticket.job_id)
        self._spawn(self.submit(ticket))

    def wake_for_jobs(self) -> None:
        """Dispatch now: jobs may wait (a submission, a job sent back to pending, a server
        that can take work again)."""
        self._maybe_waiting = True
        self._wake.set()

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


Started = tuple[attempts.Ticket | None, list[events.Event]]


def _waiting_then_first(
    dispatching: frozenset[uuid.UUID], warm: bool
) -> tuple[list[Waiting], tuple[uuid.UUID, Started | Exception] | None]:
    """The waiting jobs in the fair order and, in the same trip to the database thread, the
    first one's attempt started as the pass would start it (nothing reserved yet, no plan):
    a pass that places one job makes one trip, not two. Not when warmth plans the jobs
    (models needed): the plan comes first. The attempt's failure is returned, to be handled
    in the pass's order like any other job's."""
    waiting, placed = attempts.waiting_jobs()
    order = fair_order(waiting, placed)
    if warm and attempts.any_needs_models(order):
        return order, None
    job = next((j for j in order if j.job_id not in dispatching), None)  # nothing reserved yet
    if job is None:
        return order, None
    try:
        return order, (job.job_id, attempts.start_attempt_with_inputs(job.job_id, frozenset(), UNPLANNED))
    except Exception as error:  # WaitForRoom, or a failure the pass logs
        return order, (job.job_id, error)


def _bound(result: Started | Exception) -> Started:
    if isinstance(result, Exception):
        raise result
    return result
