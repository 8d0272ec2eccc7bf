"""SPEC §4: every /api/ error is JSON with a 4xx or 5xx status, never an HTML page or a traceback."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client, RequestFactory

from jobs.core.models import Job
from jobs.web import http
from tests.security.clients import browser, error_of, post, submit, upload

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/api/nope/",
        "/api/nope",
        "/api/jobs/a/b/c/",
        "/api/jobs/..%2F..%2Fetc%2Fpasswd/",
        "/api/../etc/passwd",
        "/api/%00/",
        "/api/" + "x" * 5000 + "/",
    ],
)
def test_unknown_api_paths_are_404_json(path):
    answer = browser().get(path)
    assert answer.status_code == 404 and error_of(answer)["code"] == "not_found"


def test_unknown_api_paths_are_json_under_debug_too(settings):
    """Django's DEBUG 404 page lists every URL pattern: not under /api/."""
    settings.DEBUG = True
    answer = Client().get("/api/nope/")
    assert answer.status_code == 404 and error_of(answer)["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/api/jobs/"),
        ("patch", "/api/jobs/{job}/"),
        ("put", "/api/jobs/{job}/cancel/"),
        ("get", "/api/jobs/{job}/retry/"),
        ("delete", "/api/workflows/"),
        ("post", "/api/tabs/{tab}/"),
    ],
)
def test_wrong_method_is_405_json(method, path):
    client = browser()
    job = submit(client, upload(client).json()["id"]).json()["job"]
    answer = getattr(client, method)(path.format(job=job["id"], tab=job["tab"]), HTTP_X_CSRFTOKEN=client.csrf)
    assert answer.status_code == 405 and error_of(answer)["code"] == "method_not_allowed"
    assert answer.has_header("Allow")


def test_a_body_over_the_limit_is_413_json_before_it_is_read(settings):
    settings.COMFYWEB_MAX_UPLOAD_BYTES = 1000
    client = browser()
    answer = post(client, "/api/jobs/", "x" * (http.max_body_bytes() + 1))
    assert answer.status_code == 413 and error_of(answer)["code"] == "request_too_large"


def test_a_json_body_over_djangos_limit_is_413_json(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    client = browser()
    answer = post(client, "/api/jobs/", {"tab": str(uuid.uuid4()), "workflow": "x" * 200})
    assert answer.status_code == 413 and error_of(answer)["code"] == "request_too_large"


def test_a_lying_content_length_is_json():
    client = browser()
    answer = client.post(
        "/api/jobs/", "{}", content_type="application/json", HTTP_X_CSRFTOKEN=client.csrf, CONTENT_LENGTH="x"
    )
    assert answer.status_code == 400 and error_of(answer)["code"] == "bad_request"


@pytest.mark.parametrize(
    "body",
    [
        "{bad json",
        "",
        "null",
        "[1, 2]",
        '"a string"',
        "[" * 100_000,
        '{"tab": ' * 5_000,
        b"\xff\xfe\x00{}",
        '{"tab": {"nested": [1, {"x": 2}]}, "workflow": "invert"}',
        '{"tab": "' + "a" * 10_000 + '", "workflow": "invert"}',
        '{"tab": "00000000-0000-0000-0000-000000000000", "workflow": ["invert"]}',
    ],
)
def test_a_malformed_json_body_is_400_json(body):
    client = browser()
    answer = post(client, "/api/jobs/", body)
    assert answer.status_code == 400, answer.content
    assert error_of(answer)["code"] in ("bad_request", "invalid_request")
    assert not Job.objects.exists()


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_exception_is_500_json_without_a_traceback(settings, monkeypatch, debug):
    settings.DEBUG = debug

    def explode(*args, **kwargs):
        raise RuntimeError("SECRET-INTERNAL-DETAIL")

    monkeypatch.setattr("jobs.core.service.owned_job", explode)
    client = browser()
    answer = client.get(f"/api/jobs/{uuid.uuid4()}/")
    assert answer.status_code == 500
    assert error_of(answer)["code"] == "internal"
    assert b"SECRET-INTERNAL-DETAIL" not in answer.content


def test_handler500_is_json_under_api_and_a_page_elsewhere():
    """Django renders handler500 itself when a middleware fails (comfyweb/urls.py)."""
    factory = RequestFactory()
    answer = http.server_error(factory.get("/api/jobs/"))
    assert answer.status_code == 500 and error_of(answer)["code"] == "internal"
    page = http.server_error(factory.get("/gallery/"))
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


def test_pages_keep_html_errors():
    answer = Client().get("/no-such-page/")
    assert answer.status_code == 404 and answer["Content-Type"].startswith("text/html")


def test_no_session_is_401_json_on_every_private_route():
    stranger = Client()
    for path in ("/api/jobs/", f"/api/jobs/{uuid.uuid4()}/", f"/api/tabs/{uuid.uuid4()}/"):
        answer = stranger.get(path)
        assert answer.status_code == 401 and error_of(answer)["code"] == "no_session"
