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

# Set by the `identity` fixture (conftest.py): each browser is then a new signed-in person.
AS_PEOPLE = [False]


def browser() -> Client:
    """A browser that opened the app page: it has a session cookie and a CSRF token (and,
    under the `identity` fixture's "people", a person of its own signed in)."""
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    if AS_PEOPLE[0]:
        from django.contrib.auth.models import User

        client.force_login(User.objects.create_user(f"person-{uuid.uuid4().hex[:12]}"))
    assert client.get("/").status_code == 200
    client.csrf = client.cookies["csrftoken"].value  # type: ignore[attr-defined]
    return client


def owner_key(client: Client) -> str:
    """Who owns what this browser makes: its person's key, else its session's."""
    user_id = client.session.get("_auth_user_id")
    return f"user:{user_id}" if user_id else client.session.session_key


def stranger_answer() -> int:
    """What a browser nobody signed in to gets for someone's file: 404 (a session of its own
    owns nothing), or in accounts mode the way to the sign-in page."""
    return 302 if AS_PEOPLE[0] else 404


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
