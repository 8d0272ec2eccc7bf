"""Accounts mode through Django's test client (issue U): sign-in required, invitations and
open sign-up, one person on many devices, nobody reading another's work, adoption of an
anonymous session's work at sign-in, and quotas that say which limit and when it resets."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from jobs.core.models import Job, Tab, Upload, Workflow
from jobs.people.models import GroupLimits, Invitation
from tests.security.clients import error_of, post, submit, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts(settings):
    settings.COMFYWEB_ACCESS = "accounts"
    return settings


def person(name: str = "", *groups: Group) -> User:
    user = User.objects.create_user(name or f"p{uuid.uuid4().hex[:8]}", password="a long pass phrase 42")
    user.groups.set(groups)
    return user


def device(user: User | None = None) -> Client:
    """One browser: signed in as `user` (if given), app page opened, CSRF token at hand."""
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    assert client.get("/").status_code == 200
    client.csrf = client.cookies["csrftoken"].value  # type: ignore[attr-defined]
    return client


def test_accounts_mode_needs_a_signed_in_person_everywhere_but_the_public_pages(accounts):
    anonymous = Client()
    page = anonymous.get("/gallery/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/?next=/gallery/")
    api = anonymous.get("/api/jobs/")
    assert api.status_code == 401 and error_of(api)["code"] == "not_signed_in"
    assert anonymous.get("/accounts/login/").status_code == 200
    assert anonymous.get("/healthz").status_code == 200


def test_an_invitation_signs_one_person_up_into_its_groups_once(accounts):
    artists = Group.objects.create(name="artists")
    invitation = Invitation.objects.create(
        email="ann@studio.test", expires_at=timezone.now() + timedelta(days=1)
    )
    invitation.groups.set([artists])
    url = f"/accounts/invite/{invitation.token}/"
    client = Client()
    assert b"ann@studio.test" in client.get(url).content
    form = {"username": "ann", "password1": "a long pass phrase 42", "password2": "a long pass phrase 42"}
    answer = client.post(url, form)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    ann = User.objects.get(username="ann")
    assert ann.email == "ann@studio.test" and list(ann.groups.all()) == [artists]
    assert client.get("/api/jobs/").status_code == 200, "signed in right away"
    assert Client().get(url).status_code == 410, "used once"
    expired = Invitation.objects.create(
        email="x@studio.test", expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert Client().get(f"/accounts/invite/{expired.token}/").status_code == 410


def test_open_sign_up_is_off_by_default_and_limited_to_its_domains(accounts):
    form = {"username": "bo", "email": "bo@elsewhere.test", "password1": "a long pass phrase 42"}
    form["password2"] = form["password1"]
    assert Client().post("/accounts/signup/", form).status_code == 404
    accounts.COMFYWEB_OPEN_SIGNUP = True
    accounts.COMFYWEB_SIGNUP_DOMAINS = ["studio.test"]
    refused = Client().post("/accounts/signup/", form)
    assert refused.status_code == 200 and "studio.test only" in refused.content.decode()
    assert Client().post("/accounts/signup/", form | {"email": "bo@studio.test"}).status_code == 302
    assert User.objects.get(username="bo").email == "bo@studio.test"


def test_one_person_on_two_devices_sees_one_job_history_and_gallery(accounts):
    ann = person("ann")
    laptop, phone = device(ann), device(ann)
    job = submit(laptop, upload(laptop).json()["id"]).json()["job"]
    assert [j["id"] for j in phone.get("/api/jobs/").json()["jobs"]] == [job["id"]]
    assert phone.get(f"/api/jobs/{job['id']}/").status_code == 200
    image = upload(phone).json()
    assert submit(laptop, image["id"]).status_code == 201, "an upload from one device serves the other"


def test_another_person_sees_nothing_of_the_first(accounts):
    ann, bob = person("ann"), person("bob")
    mine, theirs = device(ann), device(bob)
    job = submit(mine, upload(mine).json()["id"]).json()["job"]
    for path in (f"/api/jobs/{job['id']}/", f"/api/tabs/{job['tab']}/"):
        assert theirs.get(path).status_code == 404
    assert theirs.get("/api/jobs/").json() == {"jobs": []}
    answer = submit(theirs, upload(theirs).json()["id"], tab=job["tab"])
    assert answer.status_code == 403 and error_of(answer)["code"] == "tab_taken"


def test_signing_in_adopts_what_the_anonymous_session_made_and_signing_out_keeps_it():
    """Open mode (anyone may run jobs), then a sign-in: the session's key rotates, its tab,
    job and upload move to the person, who sees them from another device too."""
    ann = person("ann")
    client = device()
    image = upload(client).json()
    job = submit(client, image["id"]).json()["job"]
    credentials = {"username": "ann", "password": "a long pass phrase 42"}
    answer = client.post("/accounts/login/", credentials, HTTP_X_CSRFTOKEN=client.csrf)
    assert answer.status_code == 302
    owner = f"user:{ann.pk}"
    assert Tab.objects.get(id=job["tab"]).session_key == owner
    assert Job.objects.get(id=job["id"]).session_key == owner
    assert Upload.objects.get(id=image["id"]).session_key == owner
    assert [j["id"] for j in device(ann).get("/api/jobs/").json()["jobs"]] == [job["id"]]
    client.csrf = client.cookies["csrftoken"].value
    assert client.post("/accounts/logout/", HTTP_X_CSRFTOKEN=client.csrf).status_code == 302
    assert Job.objects.get(id=job["id"]).session_key == owner, "signing out orphans nothing"


def limits(name: str, **fields) -> Group:
    group = Group.objects.create(name=name)
    GroupLimits.objects.create(group=group, **fields)
    return group


def test_active_jobs_at_once_per_group_with_the_most_generous_group_winning(accounts):
    tight = limits("tight", max_active=1)
    ann = person("ann", tight)
    client = device(ann)
    image = upload(client).json()["id"]
    assert submit(client, image).status_code == 201
    refused = submit(client, image)
    assert refused.status_code == 429 and "1 active jobs (your limit)" in error_of(refused)["message"]
    ann.groups.add(limits("roomy", max_active=3))
    assert submit(client, image).status_code == 201


def test_the_daily_quota_says_when_it_resets_and_resets_at_midnight(accounts):
    ann = person("ann", limits("daily", jobs_per_day=1))
    client = device(ann)
    image = upload(client).json()["id"]
    first = submit(client, image).json()["job"]
    Job.objects.filter(id=first["id"]).update(status="succeeded")
    refused = submit(client, image)
    error = error_of(refused)
    assert refused.status_code == 429 and error["code"] == "daily_quota"
    tomorrow = timezone.localtime() + timedelta(days=1)
    assert "resets at 00:00" in error["message"] and tomorrow.strftime("%Y-%m-%d") in error["message"]
    # Yesterday's job no longer counts.
    Job.objects.filter(id=first["id"]).update(created_at=timezone.now() - timedelta(days=1, hours=1))
    assert submit(client, image).status_code == 201


def test_a_group_may_run_only_its_workflows(accounts):
    group = limits("invert-only", all_workflows=False)
    group.limits.workflows.set([Workflow.objects.get(slug="invert")])
    client = device(person("ann", group))
    image = upload(client).json()["id"]
    assert submit(client, image).status_code == 201
    refused = submit(client, image, workflow="blur")
    assert refused.status_code == 403 and error_of(refused)["code"] == "not_permitted"


def test_gpu_time_bounds_refuse_a_job_over_them_with_the_bound_named(accounts):
    from jobs.core.builtin_workflows import DEMO_WORKFLOWS

    spec = DEMO_WORKFLOWS[0]  # a sampler-like node with a "steps" parameter
    Workflow.objects.create(slug="steps", name="Steps", graph=spec["graph"], params=spec["params"])
    client = device(person("ann", limits("small", max_steps=20)))
    image = upload(client).json()["id"]

    def run(steps):
        body = {"tab": str(uuid.uuid4()), "workflow": "steps", "params": {"image": image, "steps": steps}}
        return post(client, "/api/jobs/", body)

    assert run(12).status_code == 201
    refused = run(50)
    error = error_of(refused)
    assert refused.status_code == 403 and error["code"] == "over_limit"
    assert "at most 20 for sampling steps" in error["message"] and "asks for 50" in error["message"]


def test_staff_superusers_have_no_quota(accounts):
    boss = User.objects.create_superuser("boss", "b@x.test", "a long pass phrase 42")
    boss.groups.add(limits("none", max_active=0))
    client = device(boss)
    image = upload(client).json()["id"]
    assert submit(client, image).status_code == 201 and submit(client, image).status_code == 201


def test_whole_graphs_and_their_node_classes_are_permissions_of_the_group(accounts):
    from jobs.core import quotas
    from jobs.core.errors import ServiceError

    ann = person("ann", limits("no-invert", denied_nodes="ImageInvert"))
    tab = Tab.objects.create(id=uuid.uuid4(), session_key=f"user:{ann.pk}")
    graph = {"1": {"class_type": "LoadImage", "inputs": {}}, "2": {"class_type": "ImageInvert", "inputs": {}}}
    with pytest.raises(ServiceError, match="may not use these nodes: ImageInvert"):
        quotas.check_submission(f"user:{ann.pk}", tab, graph=graph)
    quotas.check_submission(f"user:{ann.pk}", tab, graph={"1": graph["1"]})
    ann.groups.set([limits("pages", comfyui_graphs=False)])
    with pytest.raises(ServiceError, match="may not send whole graphs"):
        quotas.check_submission(f"user:{ann.pk}", tab, graph={"1": graph["1"]})
