"""Servers added to the pool from configuration (SPEC §6 `COMFYUI_SERVERS`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import URLValidator

from jobs.models import Server


def _name_for(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}-{parts.port}" if parts.port else str(parts.hostname)


def register_servers(urls: list[str]) -> list[Server]:
    """Add each URL to the pool unless present; servers made in the admin are left alone."""
    validate = URLValidator(schemes=["http", "https"])
    servers = []
    for raw in urls:
        url = raw.rstrip("/")
        try:
            validate(url)
        except ValidationError:
            raise ImproperlyConfigured(f"COMFYUI_SERVERS has an invalid URL: {raw!r}") from None
        server = Server.objects.filter(url=url).first()
        if server is None:
            name, n = _name_for(url), 1
            while Server.objects.filter(name=name).exists():
                n += 1
                name = f"{_name_for(url)}-{n}"
            server = Server.objects.create(name=name, url=url)
        servers.append(server)
    return servers


def register_named(name: str, url: str) -> Server:
    """A built-in simulator: keeps its name across runs while its port may change."""
    Server.objects.filter(url=url).exclude(name=name).delete()
    server, _ = Server.objects.update_or_create(name=name, defaults={"url": url, "enabled": True})
    return server
