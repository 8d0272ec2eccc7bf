"""Personal API tokens (issue T): made, found and revoked. The token itself is shown once and
never stored; the database keeps its SHA-256, which finds it again in one indexed lookup."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from jobs.people.models import ApiToken

PREFIX = "cwt_"  # a ComfyWeb token: recognisable in logs and secret scanners
# Last-used times are written at most this often per token (every request would be a write).
TOUCH_EVERY = 60.0


def from_authorization(header: str, *, basic: bool = False) -> str | None:
    """The token an `Authorization` header carries: `Bearer <token>`, or with `basic`, HTTP
    Basic with the token as the password (what clients that only know a user and a password
    send). None when the header carries none."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if basic and scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[2] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(user_id: int, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token for the person: the row, and the token to show once."""
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        user_id=user_id, name=name.strip()[:100] or "token", digest=digest(token), prefix=token[:10],
        expires_at=expires_at,
    )  # fmt: skip
    return row, token


def find(token: str) -> ApiToken | None:
    """The active token with this value (its person loaded), or None: unknown, revoked,
    expired, or its person deactivated."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    now = timezone.now()
    row = (
        ApiToken.objects.select_related("user")
        .filter(digest=digest(token), revoked_at__isnull=True, user__is_active=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if row is None:
        return None
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() >= TOUCH_EVERY:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row


def revoke(token_id: int, user_id: int | None = None) -> bool:
    """Revoke a token (`user_id`: only if it is theirs; None: staff, any token)."""
    query = ApiToken.objects.filter(pk=token_id, revoked_at__isnull=True)
    if user_id is not None:
        query = query.filter(user_id=user_id)
    return bool(query.update(revoked_at=timezone.now()))
