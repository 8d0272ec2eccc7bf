"""Server health as the relay sees it: online when its socket is open, offline otherwise."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from jobs.models import Server


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
