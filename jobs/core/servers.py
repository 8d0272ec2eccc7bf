"""Servers added to the pool from configuration (SPEC §6 `COMFYUI_SERVERS`)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from jobs.core.models import Server
from jobs.pool.inventory import Inventory
from jobs.pool.trust import effective_status
from jobs.pool.warmth import Warmth, learn, warmth_from_json

# Annotations that bring a server's lease beside it, for `status_now`.
LEASE = {"lease_holder": F("lease__holder"), "lease_expires": F("lease__expires_at")}

HOST_RE = re.compile(r"^[A-Za-z0-9._-]+$|^\[[0-9A-Fa-f:.]+\]$")


def clean_base_url(raw: str) -> str:
    """A ComfyUI base URL: http(s), a host (bare names such as `gpu1` included, which Django's
    URLValidator refuses), an optional port and path; no credentials, query or fragment."""
    url = raw.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("Use an http:// or https:// URL, e.g. http://gpu1:8188")
    try:
        port = parts.port
    except ValueError:
        port = -1
    host = (
        parts.netloc.rsplit("@", 1)[-1].rsplit(":", 1)[0] if not parts.netloc.endswith("]") else parts.netloc
    )
    if not parts.hostname or port == -1 or not HOST_RE.match(host) or any(c.isspace() for c in url):
        raise ValueError("Enter a URL such as http://gpu1:8188 (a host and an optional port).")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("The URL takes no user name, password, query or fragment.")
    return url


def _name_for(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}-{parts.port}" if parts.port else str(parts.hostname)


def register_servers(urls: list[str]) -> list[Server]:
    """Add each URL to the pool unless present; servers made in the admin are left alone."""
    servers = []
    for raw in urls:
        try:
            url = clean_base_url(raw)
        except ValueError as error:
            raise ImproperlyConfigured(f"COMFYUI_SERVERS has an invalid URL {raw!r}: {error}") from None
        server = Server.objects.filter(url=url).first()
        if server is None:
            name, n = _name_for(url), 1
            while Server.objects.filter(name=name).exists():
                n += 1
                name = f"{_name_for(url)}-{n}"
            try:
                with transaction.atomic():
                    server = Server.objects.create(name=name, url=url)
            except IntegrityError:  # another process (web or relay) starting now added it
                server = Server.objects.get(url=url)
        servers.append(server)
    return servers


def register_named(name: str, url: str) -> Server:
    """A built-in simulator: keeps its name across runs while its port may change."""
    Server.objects.filter(url=url).exclude(name=name).delete()
    server, _ = Server.objects.update_or_create(
        name=name, defaults={"url": url, "enabled": True, "builtin": True}
    )
    return server


def retire_builtin(running: list[str]) -> int:
    """Disable the built-in simulators of earlier runs that this run did not start.

    Their rows remember a port nothing listens on any more (or, worse, one another program
    took); left enabled they would take tabs. A run with COMFYUI_SERVERS starts none, so all
    of them go. Returns how many were disabled.
    """
    return Server.objects.filter(builtin=True, enabled=True).exclude(name__in=running).update(enabled=False)


def status_now(server: Server, now: datetime | None = None) -> str:
    """The server's status if the relay holding its lease wrote it, else unknown
    (jobs.pool.trust). Needs the `LEASE` annotations on the server."""
    holder: str | None = getattr(server, "lease_holder", None)
    expires: datetime | None = getattr(server, "lease_expires", None)
    return effective_status(server.status, server.status_by, holder, expires, now or timezone.now())


def record_inventory(server_id: int, inventory: Inventory) -> bool:
    """Store what a server offers; True when it changed. Writes nothing when nothing did
    (the inventory is read every few minutes from every server)."""
    current = Server.objects.filter(id=server_id).values("node_classes", "model_files").first()
    if current is None:
        return False
    classes, files = sorted(inventory.node_classes), inventory.models_json()
    stored = current["node_classes"]
    if isinstance(stored, list) and sorted(stored) == classes and current["model_files"] == files:
        return False
    Server.objects.filter(id=server_id).update(
        node_classes=classes, model_files=files, inventory_at=timezone.now()
    )
    return True


def record_definitions(server_id: int, definitions: dict[str, Any]) -> None:
    """Store a server's node definitions (jobs.pool.node_defs) when they changed."""
    stored = Server.objects.filter(id=server_id).values_list("object_info", flat=True).first()
    if stored != definitions:
        Server.objects.filter(id=server_id).update(object_info=definitions)


def forget_model(server_id: int, key: str, file: str) -> None:
    """The server said it lacks a file its stored inventory lists (a model removed since the
    last read): drop it now, so that placement stops sending jobs there before the refresh."""
    with transaction.atomic():
        server = Server.objects.select_for_update().filter(id=server_id).first()
        if server is None or not isinstance(server.model_files, dict):
            return
        files = dict(server.model_files)
        for name, listed in files.items():
            if (name == key or not key) and file in listed:
                files[name] = [f for f in listed if f != file]
        if files != server.model_files:
            Server.objects.filter(id=server_id).update(model_files=files, inventory_at=timezone.now())


def offered_models(key: str) -> list[str]:
    """The files enabled servers list for one model input: a model parameter's choices
    (never a server's path or URL)."""
    found: set[str] = set()
    for files in (
        Server.objects.filter(enabled=True).exclude(model_files=None).values_list("model_files", flat=True)
    ):
        if isinstance(files, dict):
            found.update(files.get(key) or [])
    return sorted(found)


def learn_warmth(server_id: int, files: list[str], run_seconds: float) -> Warmth:
    """Fold one finished prompt into the server's warmth (jobs.pool.warmth.learn); written only
    when it changed. Only the relay watching the server calls this, so no two race."""
    stored = Server.objects.filter(id=server_id).values_list("warmth", flat=True).first()
    before = warmth_from_json(stored)
    after = learn(before, files, run_seconds)
    if after.to_json() != stored:
        Server.objects.filter(id=server_id).update(warmth=after.to_json())
    return after
