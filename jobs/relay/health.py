"""Server health as the relay sees it: online when its socket is open, offline otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.db.models import F
from django.utils import timezone

from jobs.core import servers
from jobs.core.builtin_workflows import DEMO_NODE, install_demos
from jobs.core.models import Server, ServerStatus, Workflow
from jobs.pool.inventory import Inventory

# `last_seen` is shown to staff ("seen 12 s ago" on the dashboard, /healthz); nothing decides
# on it. Rewriting it on every 2 s probe of every server only made SQLite writes: a coarser
# refresh keeps the display honest to within this interval.
SEEN_EVERY = timedelta(seconds=30)


def set_server_health(
    server_id: int,
    *,
    online: bool,
    error: str = "",
    queue_remaining: int | None = None,
    holder: str = "",
    flap: bool = False,
) -> None:
    """Record what the watcher saw, writing the row only when something changed.

    Called after every /queue probe (every 2 s per server) and on every failed reconnect,
    and nearly every call reports what the row already says. A read is cheap; a write is
    not (on SQLite it takes the one write lock every process shares), so the row is read
    first and only the fields that differ are written.

    `holder` is the lease holder reporting (jobs.pool.trust: a status is evidence only while
    its writer holds the lease); what an earlier holder wrote, `offline_since` included, is no
    evidence, so a new holder's first report replaces it. `flap`: the server failed after
    being trusted online, counted for operators.
    """
    # Read as a plain mapping: the fields compared below are named by `wanted`'s keys.
    current: Mapping[str, Any] | None = (
        Server.objects.filter(id=server_id)
        .values("status", "status_by", "last_error", "queue_remaining", "offline_since", "last_seen")
        .first()
    )
    if current is None:
        return
    now = timezone.now()
    inherited = current["status_by"] != holder
    wanted: dict[str, Any] = {"status_by": holder}
    if online:
        wanted |= {"status": ServerStatus.ONLINE, "last_error": "", "offline_since": None}
    else:
        wanted |= {"status": ServerStatus.OFFLINE, "last_error": error[:2000]}
        if current["offline_since"] is None or inherited:  # when it went away, not when we noticed
            wanted["offline_since"] = now
    if queue_remaining is not None:
        wanted["queue_remaining"] = queue_remaining
    changes = {field: value for field, value in wanted.items() if current[field] != value}
    seen = current["last_seen"]
    if online and (changes or seen is None or now - seen >= SEEN_EVERY):
        changes["last_seen"] = now
    if flap:
        changes |= {"flaps": F("flaps") + 1, "last_flap_at": now}
    if changes:
        Server.objects.filter(id=server_id).update(**changes)


def record_info(
    server_id: int,
    version: str,
    system_stats: dict[str, Any] | None,
    inventory: Inventory,
    capabilities: list[str] | None = None,
    definitions: dict[str, Any] | None = None,
) -> bool:
    """What the server is and offers, read on every connect, every few minutes and on an
    operator's refresh; True when its inventory changed. Writes only what changed
    (`system_stats` and `capabilities` None: not read this time, on the periodic re-read)."""
    if system_stats is not None:
        Server.objects.filter(id=server_id).update(
            version=version[:50], system_stats=system_stats, capabilities=capabilities or []
        )
    if definitions is not None:
        servers.record_definitions(server_id, definitions)
    changed = servers.record_inventory(server_id, inventory)
    if changed and DEMO_NODE in inventory.node_classes:
        install_demos(Workflow)
    return changed


def note_error(server_id: int, error: str) -> None:
    """Keep a failure's full text (URLs included) where staff see it, not in the job."""
    Server.objects.filter(id=server_id).update(last_error=error[:2000])
