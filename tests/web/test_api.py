"""SPEC §4 through Django's test client: JSON in, JSON out, errors never HTML."""

import uuid

import pytest
from django.test import Client

from jobs.core.models import Job
from tests.factories import png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser():
    """A browser that has opened the app page: it has a session and a CSRF token."""
    client = Client(enforce_csrf_checks=True)
    assert client.get("/").status_code == 200
    client.csrf = client.cookies["csrftoken"].value
    return client


def post(client, path, data=None, **extra):
    return client.post(
        path, data or {}, content_type="application/json", HTTP_X_CSRFTOKEN=client.csrf, **extra
    )


def upload(client, data=None, name="in.png"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    file = SimpleUploadedFile(name, data or png_bytes(), content_type="image/png")
    return client.post("/api/uploads/", {"file": file}, HTTP_X_CSRFTOKEN=client.csrf)


def test_page_has_the_workflow_picker(browser):
    page = browser.get("/").content.decode()
    assert ('<select name="workflow"' in page and 'value="invert"' in page) or "workflows-data" in page


def test_workflows_list_has_invert_with_an_image_param():
    body = Client().get("/api/workflows/").json()
    invert = next(w for w in body["workflows"] if w["slug"] == "invert")
    assert invert["params"][0]["name"] == "image" and invert["params"][0]["type"] == "image"


def test_upload_then_submit_then_read(browser):
    answer = upload(browser)
    assert answer.status_code == 201, answer.content
    image = answer.json()
    assert (image["width"], image["height"]) == (8, 8)
    assert browser.get(image["url"]).status_code == 200
    tab = str(uuid.uuid4())
    answer = post(browser, "/api/jobs/", {"tab": tab, "workflow": "invert", "params": {"image": image["id"]}})
    assert answer.status_code == 201, answer.content
    job = answer.json()["job"]
    assert job["status"] == "pending" and job["tab"] == tab and job["outputs"] == []
    assert set(job) >= {
        "id",
        "workflow",
        "server",
        "attempt",
        "params",
        "progress",
        "queue_position",
        "error",
        "created_at",
        "started_at",
        "finished_at",
    }
    assert browser.get(f"/api/jobs/{job['id']}/").json()["job"]["id"] == job["id"]
    assert [j["id"] for j in browser.get(f"/api/jobs/?tab={tab}").json()["jobs"]] == [job["id"]]
    state = browser.get(f"/api/tabs/{tab}/").json()
    assert state["lock"] is None and state["jobs"][0]["id"] == job["id"]


def test_cancel_pending_and_retry_and_delete(browser):
    image = upload(browser).json()
    job = post(
        browser,
        "/api/jobs/",
        {"tab": str(uuid.uuid4()), "workflow": "invert", "params": {"image": image["id"]}},
    ).json()["job"]
    cancelled = post(browser, f"/api/jobs/{job['id']}/cancel/").json()["job"]
    assert cancelled["status"] == "cancelled"
    again = post(browser, f"/api/jobs/{job['id']}/retry/")
    assert again.status_code == 201 and again.json()["job"]["params"] == job["params"]
    assert browser.delete(f"/api/jobs/{job['id']}/", HTTP_X_CSRFTOKEN=browser.csrf).status_code == 204
    assert not Job.objects.filter(id=job["id"]).exists()


def test_csrf_is_enforced(browser):
    answer = browser.post(
        "/api/jobs/", {"tab": str(uuid.uuid4()), "workflow": "invert"}, content_type="application/json"
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "csrf_failed"


def test_no_session_gets_json_401():
    answer = Client().get("/api/jobs/")
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "no_session"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"tab": "x", "workflow": "invert", "params": {}}, "invalid_id"),
        ({"tab": str(uuid.uuid4()), "workflow": "nope"}, "unknown_workflow"),
        ({"tab": str(uuid.uuid4()), "workflow": "invert", "params": {"image": "zz"}}, "invalid_param"),
        ({"workflow": "invert"}, "invalid_request"),
    ],
)
def test_bad_submissions_get_clear_errors(browser, body, code):
    answer = post(browser, "/api/jobs/", body)
    assert answer.status_code == 400 and answer["Content-Type"].startswith("application/json")
    assert answer.json()["error"]["code"] == code and answer.json()["error"]["message"]


def test_not_an_image_is_refused(browser):
    answer = upload(browser, b"GIF89a this is not really an image", "evil.png")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_upload"


def test_another_sessions_job_and_files_are_404(browser):
    image = upload(browser).json()
    job = post(
        browser,
        "/api/jobs/",
        {"tab": str(uuid.uuid4()), "workflow": "invert", "params": {"image": image["id"]}},
    ).json()["job"]
    stranger = Client()
    stranger.get("/")
    assert stranger.get(f"/api/jobs/{job['id']}/").status_code == 404
    assert stranger.get(image["url"]).status_code == 404
    assert stranger.get(f"/api/tabs/{job['tab']}/").status_code == 404


def test_unknown_ids_are_404_json(browser):
    answer = browser.get(f"/api/jobs/{uuid.uuid4()}/")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"


def test_openapi_describes_every_route():
    spec = Client().get("/api/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    paths = set(spec["paths"])
    assert {
        "/api/workflows/",
        "/api/uploads/",
        "/api/jobs/",
        "/api/jobs/{job_id}/",
        "/api/jobs/{job_id}/cancel/",
        "/api/jobs/{job_id}/retry/",
        "/api/tabs/{tab_id}/",
    } <= paths


def test_healthz_reports_parts():
    body = Client().get("/healthz").json()
    assert body["ok"] is True and body["db"] is True and body["channels"] is True
    assert "relay" in body and isinstance(body["servers"], list)
