"""The relay: the only part of ComfyWeb that talks to ComfyUI.

A loop of small steps (STYLE §5): keep one watcher per enabled server, dispatch pending jobs
to their tab's server, and act on nudges from web processes (new job, cancel). The database
is the source of truth: the relay polls it, so a lost nudge costs latency, never a job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from jobs import attempts, events, tabs
from jobs.comfy import ComfyError
from jobs.locks import NoServerAvailable
from jobs.models import Job, Server
from jobs.watcher import ServerWatcher

log = logging.getLogger(__name__)
db = database_sync_to_async

HOUSEKEEPING_EVERY = 10.0

# What /healthz reports of an in-process relay.
STATE: dict[str, Any] = {"running": False, "last_poll": None}


def _enabled_servers() -> list[tuple[int, str, str, str]]:
    return list(Server.objects.filter(enabled=True).values_list("id", "name", "url", "client_id"))


def _server_of(job_id: uuid.UUID) -> int | None:
    return Job.objects.filter(id=job_id).values_list("server_id", flat=True).first()


class Relay:
    def __init__(self, *, poll_interval: float | None = None) -> None:
        self.poll_interval = poll_interval or settings.COMFYWEB_RELAY_POLL
        self.watchers: dict[int, ServerWatcher] = {}
        self._dispatching: set[uuid.UUID] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._next_housekeeping = 0.0

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        STATE["running"] = True
        listener = asyncio.create_task(self.listen())
        try:
            while not stop.is_set():
                await self.step()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                self._wake.clear()
        finally:
            listener.cancel()
            await self.close()
            STATE["running"] = False

    async def step(self) -> None:
        """One pass: follow the server list, then dispatch whatever is pending."""
        STATE["last_poll"] = time.time()
        try:
            await self.sync_servers()
            await self.dispatch_pending()
            if time.monotonic() >= self._next_housekeeping:
                self._next_housekeeping = time.monotonic() + HOUSEKEEPING_EVERY
                await self.housekeeping()
        except Exception:
            log.exception("relay step failed")

    async def housekeeping(self) -> None:
        """Slow periodic work: clean up tabs that have been gone for the grace period."""
        closed = await db(tabs.close_gone_tabs)(settings.COMFYWEB_TAB_GRACE)
        if closed:
            log.info("cleaned up %d closed tabs", closed)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for watcher in list(self.watchers.values()):
            await watcher.stop()
        self.watchers.clear()

    async def sync_servers(self) -> None:
        wanted = {row[0]: row for row in await db(_enabled_servers)()}
        for server_id in set(self.watchers) - set(wanted):
            await self.watchers.pop(server_id).stop()
        for server_id, (_, name, url, client_id) in wanted.items():
            current = self.watchers.get(server_id)
            if current and current.url == url:
                continue
            if current:
                await current.stop()
            watcher = ServerWatcher(server_id, name, url, client_id)
            watcher.start()
            self.watchers[server_id] = watcher

    async def dispatch_pending(self) -> None:
        for job_id in await db(attempts.pending_job_ids)():
            if job_id not in self._dispatching:
                self._dispatching.add(job_id)
                self._spawn(self.dispatch(job_id))

    async def dispatch(self, job_id: uuid.UUID) -> None:
        """Start one attempt of a pending job on its tab's server."""
        try:
            try:
                ticket, found = await db(attempts.start_attempt)(job_id)
            except NoServerAvailable:
                return  # it stays pending; the next poll tries again
            await events.publish(found)
            if ticket is None:
                return
            watcher = self.watchers.get(ticket.server_id)
            if watcher is None:
                await self.sync_servers()
                watcher = self.watchers[ticket.server_id]
            await watcher.submit(ticket)
        except Exception:
            log.exception("dispatch of %s failed", job_id)
        finally:
            self._dispatching.discard(job_id)

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
            if message.get("reason") == "cancel":
                with contextlib.suppress(ValueError):
                    self._spawn(self.cancel(uuid.UUID(str(message.get("job")))))
            self._wake.set()

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
