"""Who used the pool, and how much (issue U): jobs, GPU seconds and failures per person and
per group over a period, for the admin page, its CSV export, the dashboard and /metrics.

GPU seconds are a job's execution time on servers: from its start on a server to its end
(a job that never started costs none). A person in several groups counts in each. Summed by
the database per owner key (the job table only grows), then mapped to people and groups.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum

from jobs.core.models import Job, JobStatus
from jobs.people import owners

ANONYMOUS = "(anonymous sessions)"


@dataclass
class Usage:
    who: str
    jobs: int = 0
    succeeded: int = 0
    failures: int = 0
    gpu_seconds: float = 0.0

    def add(self, other: Usage) -> None:
        self.jobs += other.jobs
        self.succeeded += other.succeeded
        self.failures += other.failures
        self.gpu_seconds += other.gpu_seconds


def _per_owner(since: datetime | None, until: datetime | None) -> list[tuple[str, Usage]]:
    query = Job.objects.all()
    if since is not None:
        query = query.filter(created_at__gte=since)
    if until is not None:
        query = query.filter(created_at__lt=until)
    ran = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    rows = (
        query.order_by()
        .values("session_key")
        .annotate(
            jobs=Count("id"),
            succeeded=Count("id", filter=Q(status=JobStatus.SUCCEEDED)),
            failures=Count("id", filter=Q(status=JobStatus.FAILED)),
            gpu=Sum(ran, filter=Q(started_at__isnull=False, finished_at__isnull=False)),
        )
    )
    found = []
    for row in rows:
        seconds = row["gpu"].total_seconds() if row["gpu"] else 0.0
        found.append((row["session_key"], Usage("", row["jobs"], row["succeeded"], row["failures"], seconds)))
    return found


def by_person(since: datetime | None = None, until: datetime | None = None) -> list[Usage]:
    """One row per person (by user name), and one for all anonymous owners together."""
    found: dict[int | None, Usage] = {}
    for owner, row in _per_owner(since, until):
        found.setdefault(owners.user_id_of(owner), Usage(ANONYMOUS)).add(row)
    ids = [user_id for user_id in found if user_id is not None]
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    for user_id, row in found.items():
        if user_id is not None:
            row.who = names.get(user_id, f"(deleted user {user_id})")
    return sorted(found.values(), key=lambda u: (u.who == ANONYMOUS, u.who))


def by_group(since: datetime | None = None, until: datetime | None = None) -> list[Usage]:
    """One row per group, used or not (known, bounded labels for /metrics)."""
    members: dict[int, list[str]] = defaultdict(list)
    for member, group in get_user_model().groups.through.objects.values_list("user_id", "group__name"):
        members[member].append(group)
    found = {name: Usage(name) for name in Group.objects.values_list("name", flat=True)}
    for owner, row in _per_owner(since, until):
        user_id = owners.user_id_of(owner)
        for group in members.get(user_id, []) if user_id is not None else []:
            found[group].add(row)
    return sorted(found.values(), key=lambda u: u.who)
