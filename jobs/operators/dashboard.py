"""The pool dashboard's data: one snapshot of servers, tabs and recent jobs, read from the DB.

The staff socket (jobs.operators.dashboard_consumer) sends a fresh snapshot every second and right
after an operator's action (`notify`), so the page never has to merge partial updates:
simple, and correct after any lost message.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from jobs.core import servers as servers_status
from jobs.core.models import ACTIVE_STATUSES, Job, JobStatus, Server, Tab
from jobs.operators import inventories
from jobs.pool.warmth import warmth_from_json

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

log = logging.getLogger(__name__)

POOL_GROUP = "pool.dashboard"
RECENT_JOBS = 50
MAX_TABS = 200
# Model file names per server row: the snapshot goes to every open dashboard every second;
# the server's admin page lists them all.
MAX_MODEL_NAMES = 40


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _devices(stats: Any) -> list[dict[str, Any]]:
    devices = stats.get("devices") if isinstance(stats, dict) else None
    found = []
    for device in devices or []:
        if isinstance(device, dict):
            found.append(
                {
                    "name": str(device.get("name") or "device"),
                    "type": str(device.get("type") or ""),
                    "vram_free": device.get("vram_free"),
                    "vram_total": device.get("vram_total"),
                }
            )
    return found


class ServerCounts(TypedDict):
    """What snapshot() annotates on each server."""

    active: int
    queued: int


def _server(
    server: WithAnnotations[Server, ServerCounts], running: list[dict[str, Any]], tabs: list[str]
) -> dict[str, Any]:
    return {
        "id": server.id,
        "name": server.name,
        "url": server.url,
        "enabled": server.enabled,
        "draining": server.draining,
        # As the balancer sees it: unknown when no relay now vouches for the stored status.
        "status": servers_status.status_now(server),
        "flaps": server.flaps,
        "last_flap_at": _iso(server.last_flap_at),
        "last_seen": _iso(server.last_seen),
        "last_error": server.last_error,
        "queue_remaining": server.queue_remaining,
        "version": server.version,
        "weight": server.weight,
        "max_concurrent": server.max_concurrent,
        "max_queued": server.max_queued,
        "active_jobs": server.active,
        "queued_jobs": server.queued,
        "running": running,
        "locked_tabs": {"count": len(tabs), "ids": tabs},
        "devices": _devices(server.system_stats),
        "models": _models(server),
        "warm": _warm(server),
    }


def _warm(server: Server) -> dict[str, Any]:
    """Its warm models (most recent first, as many as seen to stay loaded together), the load
    times learned there, and its pace per job (jobs.pool.warmth)."""
    warmth = warmth_from_json(server.warmth)
    return {
        "models": list(warmth.warm()),
        "loads": {name: round(seconds, 1) for name, seconds in warmth.load_seconds.items()},
        "job_seconds": None if warmth.job_seconds is None else round(warmth.job_seconds, 2),
    }


def _models(server: Server) -> dict[str, Any]:
    """Its model files: how many, the first names, and when they were read or last changed
    (count None: never read)."""
    names = inventories.model_file_names(server.model_files)
    return {
        "count": inventories.model_count(server.model_files),
        "names": names[:MAX_MODEL_NAMES],
        "more": max(len(names) - MAX_MODEL_NAMES, 0),
        "at": _iso(server.inventory_at),
    }


def _job(job: Job) -> dict[str, Any]:
    error = job.error if isinstance(job.error, dict) else None
    return {
        "id": str(job.id),
        "workflow": job.slug,
        "status": job.status,
        "server": job.server.name if job.server is not None else None,
        "tab": str(job.tab_id),
        "session": job.session_key[:8],
        "attempt": job.attempt,
        "error": (error or {}).get("message"),
        "created_at": _iso(job.created_at),
        "finished_at": _iso(job.finished_at),
        "active": job.is_active,
    }


def snapshot() -> dict[str, Any]:
    """Everything the dashboard shows, read in one transaction so its parts agree."""
    with transaction.atomic():
        servers = list(
            Server.objects.defer("node_classes")
            .annotate(
                active=Count("jobs", filter=Q(jobs__status__in=ACTIVE_STATUSES)),
                queued=Count("jobs", filter=Q(jobs__status=JobStatus.QUEUED)),
            )
            .annotate(**servers_status.LEASE)
            .order_by("name")
        )
        reachable = any(s.enabled and servers_status.status_now(s) == "online" for s in servers)
        waiting = Job.objects.filter(status=JobStatus.PENDING, server__isnull=True).count()
        running: dict[int, list[dict[str, Any]]] = {}
        for job in Job.objects.filter(status=JobStatus.RUNNING, server__isnull=False).select_related(
            "workflow"
        ):
            assert job.server_id is not None  # filtered on server__isnull=False
            running.setdefault(job.server_id, []).append(
                {"id": str(job.id), "workflow": job.slug, "tab": str(job.tab_id)}
            )
        locked: dict[int, list[str]] = {}
        for tab_id, server_id in Tab.objects.filter(server__isnull=False).values_list("id", "server_id"):
            locked.setdefault(server_id, []).append(str(tab_id))
        tabs = (
            Tab.objects.select_related("server")
            .annotate(active=Count("jobs", filter=Q(jobs__status__in=ACTIVE_STATUSES)))
            .filter(Q(server__isnull=False) | Q(active__gt=0) | Q(connected__gt=0))
            .order_by("-last_seen")[:MAX_TABS]
        )
        jobs = Job.objects.select_related("workflow", "server").order_by("-created_at")[:RECENT_JOBS]
        return {
            "type": "pool.snapshot",
            "at": timezone.now().isoformat(),
            "servers": [_server(s, running.get(s.id, []), sorted(locked.get(s.id, []))) for s in servers],
            # Jobs waiting in ComfyWeb, and whether that is because no server is reachable.
            "waiting": {"jobs": waiting, "no_server": waiting > 0 and not reachable},
            "tabs": [
                {
                    "id": str(tab.id),
                    "session": tab.session_key[:8],
                    "server": tab.server.name if tab.server is not None else None,
                    "locked_at": _iso(tab.locked_at),
                    "active_jobs": tab.active,
                    "connected": tab.connected,
                    "last_seen": _iso(tab.last_seen),
                }
                for tab in tabs
            ],
            "jobs": [_job(job) for job in jobs],
        }


async def notify() -> None:
    """Tell every open dashboard to send a fresh snapshot now."""
    try:
        await get_channel_layer().group_send(POOL_GROUP, {"type": "pool.changed"})
    except Exception:  # a dashboard refresh is never worth failing an action for
        log.warning("could not notify the pool dashboards")


def notify_sync() -> None:
    async_to_sync(notify)()
