"""API tokens (issue T): made on the account page and shown once, used on the API without a
cookie or CSRF, revoked, expired, wrong; another person's job stays out of reach; the
OpenAPI description shows the scheme; the tab socket takes a token too."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from comfyweb.asgi import application
from jobs.core.models import Job
from jobs.people import tokens
from tests.factories import png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts(settings):
    settings.COMFYWEB_ACCESS = "accounts"


def program(token: str) -> Client:
    """A script: no cookie, no CSRF token, only the Authorization header."""
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {token}")


def run_invert(client: Client, **body):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = client.post("/api/uploads/", {"file": SimpleUploadedFile("in.png", png_bytes(), "image/png")})
    assert upload.status_code == 201, upload.content
    payload = {"workflow": "invert", "params": {"image": upload.json()["id"]}, **body}
    return client.post("/api/jobs/", payload, content_type="application/json")


def test_a_token_made_on_the_account_page_is_shown_once_and_runs_jobs_as_its_person(accounts):
    ann = User.objects.create_user("ann", password="pw")
    page = Client()
    page.force_login(ann)
    made = page.post("/accounts/", {"action": "create", "name": "notebook", "days": ""})
    token = re.search(r"(cwt_[A-Za-z0-9_-]+)", made.content.decode()).group(1)
    assert token not in page.get("/accounts/").content.decode(), "shown once"
    answer = run_invert(program(token))
    assert answer.status_code == 201, answer.content
    job = Job.objects.get(id=answer.json()["job"]["id"])
    assert job.session_key == f"user:{ann.pk}" and job.source == "API token “notebook”"
    assert [j["id"] for j in page.get("/api/jobs/").json()["jobs"]] == [str(job.id)], "in her own listing"
    again = run_invert(program(token))
    assert again.json()["job"]["tab"] == answer.json()["job"]["tab"], "a tab of its own per token"
    assert tokens.find(token).last_used_at is not None


def test_revoked_expired_and_wrong_tokens_are_401_and_never_fall_back(accounts):
    ann = User.objects.create_user("ann")
    revoked, revoked_token = tokens.create(ann.pk, "old")
    tokens.revoke(revoked.pk, ann.pk)
    _, expired_token = tokens.create(ann.pk, "short", timezone.now() - timedelta(seconds=1))
    for token in (revoked_token, expired_token, "cwt_" + "x" * 43, "nonsense"):
        answer = program(token).get("/api/jobs/")
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_token", token


def test_another_persons_job_is_not_found_with_a_token(accounts):
    ann, bob = User.objects.create_user("ann"), User.objects.create_user("bob")
    _, ann_token = tokens.create(ann.pk, "a")
    _, bob_token = tokens.create(bob.pk, "b")
    job = run_invert(program(ann_token)).json()["job"]
    theirs = program(bob_token)
    assert theirs.get(f"/api/jobs/{job['id']}/").status_code == 404
    assert theirs.post(f"/api/jobs/{job['id']}/cancel/").status_code == 404
    named = run_invert(theirs, tab=job["tab"])
    assert named.status_code == 403 and named.json()["error"]["code"] == "tab_taken"


def test_a_session_still_needs_its_csrf_token_and_a_tab(settings):
    ann = User.objects.create_user("ann")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(ann)
    assert (
        browser.post("/api/jobs/", {"workflow": "invert"}, content_type="application/json").status_code == 403
    )
    _, token = tokens.create(ann.pk, "t")
    answer = program(token).post("/api/jobs/", {"workflow": "invert"}, content_type="application/json")
    assert answer.status_code == 400, "no CSRF asked of a token; the missing image is the complaint"


def test_the_openapi_description_shows_the_bearer_scheme():
    spec = Client().get("/api/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert {"type": "http", "scheme": "bearer"}.items() <= schemes["BearerToken"].items()


def test_staff_may_revoke_any_token_in_the_admin(accounts):
    ann = User.objects.create_user("ann")
    row, token = tokens.create(ann.pk, "a")
    ops = User.objects.create_superuser("ops", "o@x.test", "pw")
    admin = Client()
    admin.force_login(ops)
    admin.post("/admin/jobs/apitoken/", {"action": "revoke", "_selected_action": [row.pk]})
    assert program(token).get("/api/jobs/").status_code == 401


def socket(headers=(), subprotocols=None, tab=None):
    return WebsocketCommunicator(
        application, f"/ws/tabs/{tab or uuid.uuid4()}/", headers=list(headers), subprotocols=subprotocols
    )


@pytest.mark.django_db(transaction=True)
async def test_the_tab_socket_takes_a_token_in_a_header_or_a_subprotocol(settings):
    settings.COMFYWEB_ACCESS = "accounts"
    ann = await sync_to_async(User.objects.create_user)("ann")
    _, token = await sync_to_async(tokens.create)(ann.pk, "live")
    script = socket([(b"authorization", f"Bearer {token}".encode())])
    connected, _ = await script.connect()
    assert connected and (await script.receive_json_from())["type"] == "tab.snapshot"
    await script.disconnect()

    page = socket(subprotocols=["comfyweb", f"comfyweb.token.{token}"])
    connected, chosen = await page.connect()
    assert connected and chosen == "comfyweb"
    assert (await page.receive_json_from())["type"] == "tab.snapshot"
    await page.disconnect()

    wrong = socket([(b"authorization", b"Bearer cwt_wrong")])
    connected, code = await wrong.connect()
    assert not connected and code == 4401
