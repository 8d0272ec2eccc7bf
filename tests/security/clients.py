"""Browser personas for the security tests: a session from the first page view, CSRF on writes.

Each is a django.test.Client with CSRF checks on, as a real browser would meet them.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.factories import png_bytes


def browser() -> Client:
    """A browser that opened the app page: it has a session cookie and a CSRF token."""
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    assert client.get("/").status_code == 200
    client.csrf = client.cookies["csrftoken"].value  # type: ignore[attr-defined]
    return client


def post(client: Client, path: str, data: Any = None, **extra: Any):
    return client.post(
        path,
        data if data is not None else {},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=client.csrf,
        **extra,  # type: ignore[attr-defined]
    )


def upload(client: Client, data: bytes | None = None, name: str = "in.png", content_type: str = "image/png"):
    file = SimpleUploadedFile(name, png_bytes() if data is None else data, content_type=content_type)
    return client.post("/api/uploads/", {"file": file}, HTTP_X_CSRFTOKEN=client.csrf)  # type: ignore[attr-defined]


def submit(client: Client, image_id: str, tab: str | None = None, workflow: str = "invert"):
    body = {"tab": tab or str(uuid.uuid4()), "workflow": workflow, "params": {"image": image_id}}
    return post(client, "/api/jobs/", body)


def error_of(response) -> dict:
    """The `error` object of a JSON error answer; fails the test on HTML or another shape (SPEC §4)."""
    assert response["Content-Type"].startswith("application/json"), (
        response.status_code,
        response.content[:200],
    )
    body = json.loads(response.content)
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    assert "Traceback" not in response.content.decode(), "no traceback leaks"
    return body["error"]
