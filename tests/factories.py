"""Personas and builders: alice and bob each have their own browser session."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from PIL import Image

from jobs.core.models import RelayLease, Server, ServerStatus, Tab, Upload
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


# The lease holder of the servers made here: a relay that vouches for their status.
TEST_HOLDER = "test-relay:0:factory"


def make_server(name: str = "gpu1", url: str | None = None, *, watched: bool = True, **fields) -> Server:
    """A server with room for many prompts unless a test sets `max_queued` (fair sharing).

    `watched`: online, as a relay holding its lease reported it (jobs.pool.trust), so that it
    takes work with no relay running. A test that runs a real relay passes False: the relay
    then claims the lease and reports what it sees.
    """
    fields.setdefault("max_queued", 100)
    if "node_classes" in fields:  # read together by the relay: an inventory of no model files
        fields.setdefault("model_files", {})
    if watched:
        fields.setdefault("status", ServerStatus.ONLINE)
        fields.setdefault("status_by", TEST_HOLDER)
    server = Server.objects.create(name=name, url=url or f"http://{name}.invalid:8188", **fields)
    if watched:
        expires = timezone.now() + timedelta(days=1)
        RelayLease.objects.create(server=server, holder=TEST_HOLDER, expires_at=expires)
    return server


def make_tab(session_key: str) -> Tab:
    return Tab.objects.create(id=uuid.uuid4(), session_key=session_key)
