"""Tabs: bound to the session that first used them; their snapshot (SPEC §1, §5)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from jobs.core import sql
from jobs.core.errors import Forbidden, NotFound, parse_uuid
from jobs.core.models import ACTIVE_STATUSES, SERVER_LARGE_FIELDS, Job, Tab
from jobs.core.serializers import job_dict, jobs_queryset, lock_dict


def claim_tab(tab_id: Any, session_key: str) -> uuid.UUID:
    """The tab's id, the tab created for this session on first use; refused for another
    session (SPEC §1). In plain SQL (jobs.core.sql): every submission claims its tab."""
    tab_uuid = parse_uuid(tab_id, "tab")
    owner = sql.tab_owner(tab_uuid)
    if owner is None:
        sql.insert_tab(tab_uuid, session_key, timezone.now())  # two first uses at once: one wins
        owner = sql.tab_owner(tab_uuid)
    if owner != session_key:
        raise Forbidden("tab_taken", "This tab id belongs to another session.", status=403)
    return tab_uuid


def with_server():
    """Tabs with their locked server's row, less what the server said (SERVER_LARGE_FIELDS)."""
    return Tab.objects.select_related("server").defer(*(f"server__{name}" for name in SERVER_LARGE_FIELDS))


def owned_tab(tab_id: Any, session_key: str) -> Tab:
    tab_uuid = parse_uuid(tab_id, "tab")
    tab = with_server().filter(id=tab_uuid, session_key=session_key).first()
    if tab is None:
        raise NotFound("not_found", "No such tab.")
    return tab


def tab_connected(tab_id: Any, delta: int) -> None:
    """A socket of the tab opened (+1) or closed (-1); a reopened tab is no longer closed."""
    fields: dict[str, Any] = {"connected": F("connected") + delta, "last_seen": timezone.now()}
    if delta > 0:
        fields["closed_at"] = None
    Tab.objects.filter(id=tab_id).update(**fields)


def tab_heartbeat(tab_id: Any) -> None:
    Tab.objects.filter(id=tab_id).update(last_seen=timezone.now())


# A connected page pings every 20 s and the consumer records it at most every HEARTBEAT s;
# a tab silent for longer than STALE is gone even if its process died without saying so.
HEARTBEAT = 60.0
STALE = 180.0


def close_gone_tabs(grace: float, now: datetime | None = None) -> int:
    """Clean up tabs that have been gone for `grace` seconds with no active job.

    Their jobs and results stay (the gallery keeps them); a tab that never ran a job is
    deleted, one that did is marked closed. Returns how many tabs were cleaned up.
    """
    now = now or timezone.now()
    active = Job.objects.filter(tab=OuterRef("pk"), status__in=ACTIVE_STATUSES)
    gone = (
        Tab.objects.filter(closed_at__isnull=True)
        .filter(
            Q(connected__lte=0, last_seen__lt=now - timedelta(seconds=grace))
            | Q(last_seen__lt=now - timedelta(seconds=max(grace, STALE)))
        )
        .exclude(Exists(active))
    )
    with transaction.atomic():
        ids = list(gone.values_list("id", flat=True))
        if not ids:
            return 0
        # Race: a job submitted meanwhile. Re-check "no active job" in the writes themselves.
        idle = Tab.objects.filter(id__in=ids).exclude(Exists(active))
        never_ran = Job.objects.filter(tab=OuterRef("pk"))
        deleted, _ = idle.exclude(Exists(never_ran)).delete()
        closed = idle.update(closed_at=now, server=None, locked_at=None, connected=0)
        return deleted + closed


def tab_snapshot(tab_id: Any) -> dict[str, Any]:
    """What a tab needs to show its state: its lock, its jobs and the seq they are current to.

    Read in one transaction so that the seq matches the state (SPEC §5).
    """
    with transaction.atomic():
        tab = with_server().get(id=tab_id)
        jobs = [job_dict(j) for j in jobs_queryset().filter(tab=tab)]
        return {
            "type": "tab.snapshot",
            "tab": str(tab.id),
            "lock": lock_dict(tab),
            "jobs": jobs,
            "seq": tab.seq,
        }


def active_jobs(tab_id: Any, also: Iterable[str] = ()) -> tuple[int, list[dict[str, Any]]]:
    """The tab's seq and its unfinished jobs, with the jobs named in `also` whatever their
    state, read in one transaction: what a ComfyUI socket follows (jobs.comfyapi.consumer)."""
    with transaction.atomic():
        seq = Tab.objects.filter(id=tab_id).values_list("seq", flat=True).first() or 0
        wanted = Q(status__in=ACTIVE_STATUSES) | Q(id__in=list(also))
        jobs = [job_dict(j) for j in jobs_queryset().filter(wanted, tab_id=tab_id)]
        return seq, jobs
