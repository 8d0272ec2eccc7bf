"""Personas and builders: alice and bob each have their own browser session."""

from __future__ import annotations

import io
import uuid

from django.contrib.sessions.backends.db import SessionStore
from PIL import Image

from jobs.core.models import Server, Tab, Upload
from jobs.core.uploads import accept_upload


def make_session() -> str:
    store = SessionStore()
    store["started"] = True
    store.create()
    return store.session_key


def png_bytes(width: int = 8, height: int = 8, colour=(10, 200, 30)) -> bytes:
    """A small RGB test image with a gradient, so that inversion is checkable per pixel."""
    image = Image.new("RGB", (width, height), colour)
    for x in range(width):
        for y in range(height):
            image.putpixel((x, y), ((colour[0] + 20 * x) % 256, (colour[1] + 10 * y) % 256, colour[2]))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def make_upload(session_key: str, **kwargs) -> Upload:
    return accept_upload(session_key, png_bytes(**kwargs), "input.png")


def make_server(name: str = "gpu1", url: str | None = None, **fields) -> Server:
    """A server with room for many prompts unless a test sets `max_queued` (fair sharing)."""
    fields.setdefault("max_queued", 100)
    return Server.objects.create(name=name, url=url or f"http://{name}.invalid:8188", **fields)


def make_tab(session_key: str) -> Tab:
    return Tab.objects.create(id=uuid.uuid4(), session_key=session_key)
