"""What an operator does to the pool, shared by the admin and the live dashboard.

Each function changes the database through the service (or a plain conditional update for
the server flags), publishes the events to the tabs concerned, nudges the relay and tells
open dashboards to refresh. None of them holds a transaction across a ComfyUI call.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync

from jobs.comfy import ComfyClient, ComfyError
from jobs.core import events, service
from jobs.core.errors import ServiceError
from jobs.core.models import Job, Server
from jobs.operators import dashboard

PROBE_TIMEOUT = 5.0

SERVER_FLAGS: dict[str, dict[str, bool]] = {
    "enable": {"enabled": True},
    "disable": {"enabled": False},
    "drain": {"draining": True},
    "undrain": {"draining": False},
}


def set_server_flags(server_ids: list[int], action: str) -> int:
    """Enable, disable, drain or undrain servers; returns how many rows changed.

    Draining and disabling never touch locks: tabs already on the server finish there
    (the balancer only stops giving it new locks).
    """
    changed = Server.objects.filter(id__in=server_ids).update(**SERVER_FLAGS[action])
    if changed:
        events.nudge_relay_sync("pool")  # any nudge wakes the relay; it reads the flags from the DB
        dashboard.notify_sync()
    return changed


def refresh_server(server_id: int) -> None:
    """Ask the relay to fetch the server's /system_stats and /object_info again: its node
    classes and model files (a refresh that changes nothing writes nothing)."""
    events.nudge_relay_sync("refresh", server=server_id)
    dashboard.notify_sync()


def force_unlock(tab_id: Any) -> int:
    """Release a tab's lock and cancel that tab's active jobs only; returns how many were cancelled."""
    result = service.force_unlock(tab_id)
    events.publish_sync(result.events)
    for job_id in result.on_servers:
        events.nudge_relay_sync("cancel", job=job_id)
    dashboard.notify_sync()
    return sum(1 for _, message in result.events if message["type"] == "job.updated")


def cancel(job_id: Any) -> Job:
    result = service.cancel_job(None, job_id, staff=True)
    events.publish_sync(result.events)
    if result.needs_relay:
        events.nudge_relay_sync("cancel", job=str(result.job.id))
    dashboard.notify_sync()
    return result.job


def retry(job_id: Any) -> Job:
    """Run a finished job again for its own tab and session, with the same parameters."""
    job = service.owned_job(job_id, "", staff=True)
    if job.is_active:
        raise ServiceError("job_active", "Only a finished job can be run again.", status=409)
    if job.workflow is None:
        raise ServiceError("not_retryable", service.RAW_GRAPH_RETRY, status=409)
    new, found = service.submit_job(job.session_key, job.tab_id, job.workflow.slug, job.params)
    events.publish_sync(found)
    events.nudge_relay_sync("submit")
    dashboard.notify_sync()
    return new


# --------------------------------------------------------------------------- test connection


class ProbeFailed(Exception):
    pass


def human_bytes(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        return "?"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return "?"  # pragma: no cover


def describe_devices(stats: dict[str, Any]) -> list[str]:
    """ "cuda:0 NVIDIA RTX 4090 (cuda): VRAM 20.1 GiB free of 24.0 GiB" per device."""
    lines = []
    for device in stats.get("devices") or []:
        if not isinstance(device, dict):
            continue
        name = device.get("name") or "device"
        kind = device.get("type") or "?"
        free, total = human_bytes(device.get("vram_free")), human_bytes(device.get("vram_total"))
        lines.append(f"{name} ({kind}): VRAM {free} free of {total}")
    return lines


def summarize_stats(stats: dict[str, Any]) -> str:
    system = stats.get("system")
    if not isinstance(system, dict):
        system = {}
    version = system.get("comfyui_version") or "unknown version"
    devices = describe_devices(stats) or ["no devices reported"]
    return f"ComfyUI {version}; " + "; ".join(devices)


async def _system_stats(url: str, timeout: float) -> dict[str, Any]:
    async with ComfyClient(url, timeout=timeout) as client:
        return await client.system_stats()


def probe(url: str, timeout: float = PROBE_TIMEOUT) -> dict[str, Any]:
    """GET /system_stats now; raises ProbeFailed with a readable reason."""
    try:
        return async_to_sync(_system_stats)(url, timeout)
    except (ComfyError, ValueError) as error:
        raise ProbeFailed(str(error) or error.__class__.__name__) from None


async def _object_info(url: str, timeout: float) -> dict[str, Any]:
    async with ComfyClient(url, timeout=timeout) as client:
        return await client.object_info()


def fetch_object_info(url: str, timeout: float = 10.0) -> dict[str, Any]:
    try:
        return async_to_sync(_object_info)(url, timeout)
    except (ComfyError, ValueError) as error:
        raise ProbeFailed(str(error) or error.__class__.__name__) from None
