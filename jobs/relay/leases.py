"""Which relay watches which server: one at a time, through expiring leases in the database.

Several relay processes may run for redundancy (SPEC §2.8). Each claims the servers whose
lease is free or expired and renews its own on every pass; when a relay dies its leases
expire and another relay takes the servers over (and reconciles their jobs on connect).
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from jobs.core.models import RelayLease


def relay_identity(role: str) -> tuple[str, str]:
    """(relay id, lease holder). The relay id is stable across restarts of the same relay
    (COMFYWEB_RELAY_ID, else host and role) and goes into the ComfyUI client id, so that a
    restarted relay still hears its prompts; the holder is unique to this process."""
    relay_id = os.environ.get("COMFYWEB_RELAY_ID") or f"{socket.gethostname()}-{role}"
    return relay_id, f"{relay_id}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(server_ids: list[int], holder: str, ttl: float) -> set[int]:
    """Renew this holder's leases and take free or expired ones; returns the servers held.

    Race: two relays claiming an expired lease at once. The update is conditional on the
    lease being ours or expired, so only the first write matches; a first claim of a server
    is a unique insert, so only one relay creates it.
    """
    now = timezone.now()
    expires = now + timedelta(seconds=ttl)
    held: set[int] = set()
    for server_id in server_ids:
        mine_or_free = Q(holder=holder) | Q(expires_at__lt=now)
        if RelayLease.objects.filter(Q(server_id=server_id) & mine_or_free).update(
            holder=holder, expires_at=expires
        ):
            held.add(server_id)
            continue
        try:
            with transaction.atomic():
                RelayLease.objects.create(server_id=server_id, holder=holder, expires_at=expires)
            held.add(server_id)
        except IntegrityError:
            pass  # another relay holds it
    return held


def release(holder: str) -> None:
    """Give up every lease of this holder (orderly shutdown), so others take over at once."""
    RelayLease.objects.filter(holder=holder).delete()


def holders() -> dict[int, tuple[str, bool]]:
    """Server id → (holder, still valid), for health and the dashboard."""
    now = timezone.now()
    return {lease.server_id: (lease.holder, lease.expires_at > now) for lease in RelayLease.objects.all()}
