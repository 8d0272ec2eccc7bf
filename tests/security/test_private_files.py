"""Private storage (SPEC §4): uploads and outputs are served to the owning session and staff only."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import User
from django.test import Client

from jobs.core import storage
from jobs.core.models import Job, Output, Tab, Workflow
from tests.factories import png_bytes
from tests.security.clients import browser, owner_key, stranger_answer, upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("identity")]


def an_output(session_key: str) -> Output:
    tab = Tab.objects.create(id=uuid.uuid4(), session_key=session_key)
    job = Job.objects.create(
        tab=tab, session_key=session_key, workflow=Workflow.objects.get(slug="invert"), status="succeeded"
    )
    name = storage.save_output(job.id, "9", 0, png_bytes(), "png")
    return Output.objects.create(
        job=job, node_id="9", index=0, file=name, filename="out.png", width=8, height=8
    )


def staff() -> Client:
    client = Client()
    client.force_login(User.objects.create_user("operator", password="x", is_staff=True))
    return client


def test_an_upload_is_served_to_its_session_and_staff_only():
    owner, stranger = browser(), browser()
    url = upload(owner).json()["url"]
    assert owner.get(url).status_code == 200
    assert stranger.get(url).status_code == 404
    assert Client().get(url).status_code == stranger_answer()
    assert staff().get(url).status_code == 200


def test_an_output_is_served_to_its_session_and_staff_only():
    owner, stranger = browser(), browser()
    output = an_output(owner_key(owner))
    url = f"/files/outputs/{output.id}/"
    served = owner.get(url)
    assert served.status_code == 200 and served.content == png_bytes()  # small: answered whole
    assert served["Cache-Control"].startswith("private")
    assert stranger.get(url).status_code == 404
    assert Client().get(url).status_code == stranger_answer()
    assert staff().get(url).status_code == 200


def test_a_logged_in_user_who_is_not_staff_is_a_stranger():
    owner = browser()
    url = upload(owner).json()["url"]
    user = Client()
    user.force_login(User.objects.create_user("someone", password="x"))
    assert user.get(url).status_code == 404


def test_an_upload_id_is_not_an_output_id():
    owner = browser()
    image = upload(owner).json()
    assert owner.get(f"/files/outputs/{image['id']}/").status_code == 404


@pytest.mark.parametrize(
    "tail",
    [
        "../../../../etc/passwd",
        "..%2F..%2F..%2Fetc%2Fpasswd/",
        "%2e%2e/%2e%2e/settings.py",
        "....//....//etc/passwd",
        "uploads/",
        "x/",
        "00000000-0000-0000-0000-000000000000/",
        "00000000-0000-0000-0000-000000000000/../../",
        "%00/",
        "..\\..\\windows\\win.ini",
    ],
)
@pytest.mark.parametrize("kind", ["uploads", "outputs"])
def test_path_traversal_looking_ids_are_404(kind, tail):
    owner = browser()
    upload(owner)
    an_output(owner_key(owner))
    answer = owner.get(f"/files/{kind}/{tail}")
    assert answer.status_code == 404
    body = b"" if answer.streaming else answer.content
    assert b"root:" not in body and b"SECRET_KEY" not in body
