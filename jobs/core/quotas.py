"""The limits a job is submitted under (issue U): per tab always; per owner, the session
limit in open mode or the person's group limits (jobs.people.limits) when signed in.

A refusal says which limit it hit and, for the daily one, when it resets (midnight in the
site's TIME_ZONE). Staff with superuser rights have no quota.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from jobs.core import sql
from jobs.core.errors import ServiceError
from jobs.core.models import ACTIVE_STATUSES, Job, Workflow
from jobs.people import owners
from jobs.people.limits import (
    UNLIMITED,
    Limits,
    bind_values,
    forbidden_nodes,
    most_generous,
    node_lines,
    over_bounds,
)
from jobs.people.models import GroupLimits


def limits_of(owner: str) -> Limits:
    """A session's limits (open mode), or a person's: their groups' most generous, else the
    session defaults for a person in no group with limits."""
    session_default = Limits(max_active=settings.COMFYWEB_MAX_ACTIVE_PER_SESSION)
    user_id = owners.user_id_of(owner)
    if user_id is None:
        return session_default
    user = get_user_model().objects.filter(pk=user_id).only("is_superuser").first()
    if user is None:
        return session_default
    if user.is_superuser:
        return UNLIMITED
    rows = GroupLimits.objects.filter(group__user=user_id).prefetch_related("workflows")
    each = [
        Limits(
            max_active=row.max_active,
            jobs_per_day=row.jobs_per_day,
            workflows=None if row.all_workflows else frozenset(w.slug for w in row.workflows.all()),
            raw_graphs=row.comfyui_graphs,
            allowed_nodes=node_lines(row.allowed_nodes) or None,
            denied_nodes=node_lines(row.denied_nodes),
            max_steps=row.max_steps,
            max_pixels=row.max_pixels,
            max_batch=row.max_batch,
            max_frames=row.max_frames,
        )
        for row in rows
    ]
    return most_generous(each) or session_default


def day_start(now: datetime | None = None) -> datetime:
    """The start of today in the site's time zone (the daily quota's window)."""
    local = timezone.localtime(now or timezone.now())
    return timezone.make_aware(datetime.combine(local.date(), time.min), local.tzinfo)


def check_submission(
    owner: str,
    tab_id: Any,
    workflow: Workflow | None = None,
    values: dict[str, Any] | None = None,
    graph: dict[str, Any] | None = None,
) -> None:
    """Raise a ServiceError (429 for counts, 403 for permissions and bounds) when this job
    would go over a limit. A workflow's job: its graph is read only when a bound needs it;
    a whole graph (the ComfyUI endpoint): `graph` is what runs."""
    per_tab = settings.COMFYWEB_MAX_ACTIVE_PER_TAB
    # Counted in plain SQL (jobs.core.sql): every submission asks.
    if sql.active_jobs("tab_id", tab_id, ACTIVE_STATUSES) >= per_tab:
        raise ServiceError(
            "too_many_jobs",
            f"This tab already has {per_tab} active jobs; wait for one to finish.",
            status=429,
        )
    limits = limits_of(owner)
    if workflow is not None and limits.workflows is not None and workflow.slug not in limits.workflows:
        raise ServiceError(
            "not_permitted",
            f"Your group may not run the workflow “{workflow.name}”.",
            field="workflow",
            status=403,
        )
    if workflow is None and not limits.raw_graphs:
        raise ServiceError("not_permitted", "Your group may not send whole graphs.", status=403)
    if workflow is None and (refused := forbidden_nodes(graph or {}, limits)):
        raise ServiceError(
            "not_permitted", f"Your group may not use these nodes: {', '.join(refused)}.", status=403
        )
    if (
        limits.max_active is not None
        and sql.active_jobs("session_key", owner, ACTIVE_STATUSES) >= limits.max_active
    ):
        raise ServiceError(
            "too_many_jobs",
            f"You already have {limits.max_active} active jobs (your limit); wait for some to finish.",
            status=429,
        )
    if limits.jobs_per_day is not None:
        start = day_start()
        if Job.objects.filter(session_key=owner, created_at__gte=start).count() >= limits.jobs_per_day:
            resets = timezone.localtime(start + timedelta(days=1))
            raise ServiceError(
                "daily_quota",
                f"You have run your {limits.jobs_per_day} jobs for today; "
                f"the quota resets at {resets:%H:%M} ({settings.TIME_ZONE}) on {resets:%Y-%m-%d}.",
                status=429,
            )
    if any(
        getattr(limits, name) is not None for name in ("max_steps", "max_pixels", "max_batch", "max_frames")
    ):
        if workflow is not None:
            stored = Workflow.objects.values_list("graph", flat=True).get(pk=workflow.pk)
            graph = bind_values(stored, workflow.params, values or {})
        excess = over_bounds(graph or {}, limits)
        if excess is not None:
            raise ServiceError("over_limit", excess.message(), status=403)
