"""Webhooks (issue T): which callback URLs are allowed, which calls are due, how a call is
signed, and what a try's outcome does to the next. The network part is jobs.relay.webhooks.

Never to loopback, link-local, private or otherwise non-global addresses (a callback is a
request ComfyWeb makes from inside the operator's network: SSRF), unless
COMFYWEB_WEBHOOK_ALLOW lists the network; every redirect is checked the same way. Host names
are resolved at delivery and every address they resolve to must be allowed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.core.errors import ServiceError
from jobs.core.models import FINISHED_STATUSES, Job, WebhookCall
from jobs.core.serializers import job_dict, jobs_queryset
from jobs.people import owners
from jobs.people.models import WebhookSecret

MAX_URL = 2000
CLAIM_SECONDS = 30.0
MAX_BACKOFF = 60.0
SIGNATURE_HEADER = "ComfyWeb-Signature"


def url_problem(url: str) -> str | None:
    """What is wrong with a callback URL as written (None: nothing): http(s), a host, no
    credentials, and a literal address only if allowed. Names are checked at delivery."""
    if len(url) > MAX_URL:
        return f"is longer than {MAX_URL} characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http or https URL with a host"
    if parts.username or parts.password:
        return "must not carry credentials"
    del port
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return (
            "points to this machine"
            if parts.hostname.lower() == "localhost" and not allowed_loopback()
            else None
        )
    return None if address_allowed(address) else f"points to a non-public address ({address})"


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in settings.COMFYWEB_WEBHOOK_ALLOW]


def allowed_loopback() -> bool:
    return any(address_allowed(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1"))


def address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A global address, or one in a network the operator allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed_networks()):
        return True
    return address.is_global and not address.is_multicast


def check_callback(url: Any, owner: str) -> str | None:
    """The callback URL of a submission, checked (ServiceError 400), or None when none."""
    if url is None or url == "":
        return None
    if not isinstance(url, str):
        raise ServiceError("invalid_callback", "callback_url must be a string.", field="callback_url")
    if owners.user_id_of(owner) is None:
        raise ServiceError(
            "invalid_callback",
            "callback_url needs a signed-in person or a token: calls are signed with a person's key.",
            field="callback_url",
        )
    problem = url_problem(url)
    if problem is not None:
        raise ServiceError("invalid_callback", f"callback_url {problem}.", field="callback_url")
    return url


@dataclass(frozen=True)
class Due:
    """A call to make now: where, what, and its signature headers."""

    call_id: int
    url: str
    body: bytes
    headers: dict[str, str]


def secret_of(user_id: int) -> str:
    return WebhookSecret.objects.get_or_create(user_id=user_id)[0].secret


def sign(secret: str, body: bytes, at: int | None = None) -> str:
    """`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: a receiver recomputes it with the
    person's key (shown on their account page) and refuses old timestamps (replays)."""
    at = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def _waiting():
    """Calls still to be made: their job ended, neither delivered nor given up."""
    return WebhookCall.objects.filter(
        delivered_at__isnull=True, gave_up_at__isnull=True, job__status__in=FINISHED_STATUSES
    )


def claim_due(limit: int = 20) -> list[Due]:
    """Calls of ended jobs that are due, each claimed for CLAIM_SECONDS by this relay (two
    relays never call one at once; a relay that died leaves the claim to run out)."""
    now = timezone.now()
    ready = (
        _waiting()
        .exclude(next_at__gt=now)
        .exclude(claimed_until__gt=now)
        .values_list("id", "job_id", "url")[:limit]
    )
    found: list[Due] = []
    for call_id, job_id, url in list(ready):
        with transaction.atomic():
            won = (
                WebhookCall.objects.filter(id=call_id)
                .exclude(claimed_until__gt=now)
                .update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
            )
            if not won:
                continue
            job = jobs_queryset().get(id=job_id)
            body = json.dumps({"type": "job.ended", "job": job_dict(job)}, separators=(",", ":")).encode()
            user_id = owners.user_id_of(Job.objects.values_list("session_key", flat=True).get(id=job_id))
            headers = {"Content-Type": "application/json", "ComfyWeb-Event": "job.ended"}
            headers["ComfyWeb-Delivery"] = str(call_id)
            if user_id is not None:
                headers[SIGNATURE_HEADER] = sign(secret_of(user_id), body)
            found.append(Due(call_id, url, body, headers))
    return found


def seconds_to_next_due(most: float) -> float:
    """How long until a call of an ended job may next be due (its retry's time, or the end of
    another relay's claim), at most `most`: the relay looks again then, not twice a second
    on an idle pool. A job that ends meanwhile makes a call due sooner; the relay looks
    again after each one it sees end (jobs.relay.loop)."""
    now = timezone.now()
    soonest = most
    for next_at, claimed_until in _waiting().values_list("next_at", "claimed_until")[:200]:
        due = max((t for t in (next_at, claimed_until) if t is not None), default=now)
        soonest = min(soonest, max((due - now).total_seconds(), 0.0))
    return soonest


def record(call_id: int, status: int | None, error: str = "") -> None:
    """One try's outcome: a 2xx is delivered; anything else is tried again after a backoff
    (1 s, doubling, at most MAX_BACKOFF) until COMFYWEB_WEBHOOK_RETRY_FOR after the job ended."""
    now = timezone.now()
    call = WebhookCall.objects.select_related("job").get(id=call_id)
    call.attempts += 1
    call.last_status, call.last_error, call.claimed_until = status, error[:300], None
    if status is not None and 200 <= status < 300:
        call.delivered_at = now
    else:
        ended = call.job.finished_at or call.created_at
        call.next_at = now + timedelta(seconds=min(2 ** (call.attempts - 1), MAX_BACKOFF))
        if (call.next_at - ended).total_seconds() > settings.COMFYWEB_WEBHOOK_RETRY_FOR:
            call.gave_up_at, call.next_at = now, None
    call.save(
        update_fields=[
            "attempts",
            "last_status",
            "last_error",
            "claimed_until",
            "delivered_at",
            "next_at",
            "gave_up_at",
        ]
    )
