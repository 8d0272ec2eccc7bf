"""Server health as the relay sees it: online when its socket is open, offline otherwise."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from jobs.builtin_workflows import DEMO_NODE, install_demos
from jobs.models import Server, Workflow


def set_server_health(
    server_id: int, *, online: bool, error: str = "", queue_remaining: int | None = None
) -> None:
    now = timezone.now()
    fields: dict[str, Any] = {}
    if online:
        fields.update(status="online", last_seen=now, offline_since=None, last_error="")
    else:
        fields.update(status="offline", last_error=error[:2000])
        Server.objects.filter(id=server_id, offline_since__isnull=True).update(offline_since=now)
    if queue_remaining is not None:
        fields["queue_remaining"] = queue_remaining
    Server.objects.filter(id=server_id).update(**fields)


def record_info(server_id: int, version: str, system_stats: dict[str, Any], node_classes: list[str]) -> None:
    """What the server is, read on every connect and on an operator's refresh."""
    Server.objects.filter(id=server_id).update(
        version=version[:50], system_stats=system_stats, node_classes=node_classes, last_seen=timezone.now()
    )
    if DEMO_NODE in node_classes:
        install_demos(Workflow)


def note_error(server_id: int, error: str) -> None:
    """Keep a failure's full text (URLs included) where staff see it, not in the job."""
    Server.objects.filter(id=server_id).update(last_error=error[:2000])
