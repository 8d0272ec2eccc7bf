"""Calling webhooks (issue T): the relay posts each ended job's JOB to its callback URL.

Every address a host name resolves to must be allowed (jobs.core.callbacks), before the
request and before each redirect it follows (at most MAX_REDIRECTS, each checked the same
way): a public name that redirects to 169.254.169.254 gets no request there. A try that
fails (no answer, a non-2xx status, a refused address) is recorded and tried again later.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from urllib.parse import urljoin, urlsplit

import httpx
from channels.db import database_sync_to_async

from jobs.core import callbacks

log = logging.getLogger("jobs.relay.webhooks")

MAX_REDIRECTS = 3
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class Refused(Exception):
    """The URL's address is not allowed."""


async def check_address(url: str) -> None:
    """Raise Refused unless every address the URL's host resolves to is allowed."""
    problem = callbacks.url_problem(url)
    if problem is not None:
        raise Refused(f"the URL {problem}")
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port)
    except OSError as error:
        raise Refused(f"{host} does not resolve ({error})") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not callbacks.address_allowed(address):
            raise Refused(f"{host} resolves to a non-public address ({address})")


async def post(client: httpx.AsyncClient, due: callbacks.Due) -> tuple[int | None, str]:
    """One try: (HTTP status or None, error text)."""
    url = due.url
    try:
        for _ in range(MAX_REDIRECTS + 1):
            await check_address(url)
            answer = await client.post(url, content=due.body, headers=due.headers)
            if answer.is_redirect and "location" in answer.headers:
                url = urljoin(url, answer.headers["location"])
                continue
            return answer.status_code, "" if answer.is_success else f"answered {answer.status_code}"
        return None, f"more than {MAX_REDIRECTS} redirects"
    except Refused as refused:
        return None, f"refused: {refused}"
    except httpx.HTTPError as error:
        return None, f"{type(error).__name__}: {error}"[:300]


async def deliver_due(client: httpx.AsyncClient) -> int:
    """Make every due call once; returns how many were tried."""
    due = await database_sync_to_async(callbacks.claim_due)()
    if not due:
        return 0
    outcomes = await asyncio.gather(*(post(client, call) for call in due))
    for call, (status, error) in zip(due, outcomes, strict=True):
        if error:
            log.info("webhook %s to %s: %s", call.call_id, call.url, error)
        await database_sync_to_async(callbacks.record)(call.call_id, status, error)
    return len(due)


def new_client() -> httpx.AsyncClient:
    """Redirects are followed by hand (each target checked); no proxies from the environment."""
    return httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, trust_env=False)
