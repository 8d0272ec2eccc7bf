"""Moving what one owner made to another (issue U): on sign-in, a person adopts what their
browser's anonymous session made, so signing in never orphans an open tab or a result."""

from __future__ import annotations

import uuid

from django.db import transaction

from jobs.core.models import Job, Tab, Upload


def adopt(from_owner: str, to_owner: str) -> list[uuid.UUID]:
    """Tabs, jobs and uploads of `from_owner` become `to_owner`'s, in one transaction.
    Returns the adopted tabs (their sockets still carry the old identity)."""
    if not from_owner or from_owner == to_owner:
        return []
    with transaction.atomic():
        tab_ids = list(Tab.objects.filter(session_key=from_owner).values_list("id", flat=True))
        Tab.objects.filter(session_key=from_owner).update(session_key=to_owner)
        Job.objects.filter(session_key=from_owner).update(session_key=to_owner)
        Upload.objects.filter(session_key=from_owner).update(session_key=to_owner)
    return tab_ids
