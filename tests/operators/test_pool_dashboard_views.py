"""/admin/pool/: the page, its snapshot and its actions, for staff and nobody else."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import timezone

from jobs.core import events, service
from jobs.core.models import Job, JobStatus, Server, Tab
from jobs.operators import dashboard
from tests.factories import make_server, make_tab, make_upload

pytestmark = pytest.mark.django_db

POOL = "/admin/pool/"


@pytest.fixture
def sent(monkeypatch):
    """Nudges to the relay, events to tabs and dashboard refreshes, as recorded calls."""
    record = {"nudges": [], "events": [], "notified": 0}
    monkeypatch.setattr(
        events, "nudge_relay_sync", lambda reason, **data: record["nudges"].append((reason, data))
    )
    monkeypatch.setattr(events, "publish_sync", lambda found: record["events"].extend(found))

    def notified():
        record["notified"] += 1

    monkeypatch.setattr(dashboard, "notify_sync", notified)
    return record


def submit(session, tab):
    upload = make_upload(session)
    job, _ = service.submit_job(session, tab.id, "invert", {"image": str(upload.id)})
    return job


def place(job, server, status=JobStatus.QUEUED):
    Job.objects.filter(id=job.id).update(status=status, server=server)
    Tab.objects.filter(id=job.tab_id).update(server=server, locked_at=timezone.now())


def csrf_client(user) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(POOL)
    return client, client.cookies["csrftoken"].value


def test_the_admin_index_links_to_the_dashboard(staff):
    page = staff.get("/admin/").content.decode()
    assert f'href="{POOL}"' in page and "Pool dashboard" in page


def test_staff_see_servers_locked_tabs_and_jobs(staff, alice):
    gpu1 = make_server("gpu1", status="online", version="0.3.64", queue_remaining=2)
    gpu1.system_stats = {
        "devices": [{"name": "cuda:0 RTX", "type": "cuda", "vram_free": 2**30, "vram_total": 2**33}]
    }
    gpu1.save()
    tab = make_tab(alice)
    job = submit(alice, tab)
    place(job, gpu1, JobStatus.RUNNING)

    response = staff.get(POOL)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'src="/static/pool/dashboard.js"' in page and 'id="pool-snapshot"' in page
    snapshot = response.context["snapshot"]
    [server] = snapshot["servers"]
    assert server["name"] == "gpu1" and server["status"] == "online" and server["version"] == "0.3.64"
    assert server["queue_remaining"] == 2 and server["active_jobs"] == 1
    assert server["running"] == [{"id": str(job.id), "workflow": "invert", "tab": str(tab.id)}]
    assert server["locked_tabs"] == {"count": 1, "ids": [str(tab.id)]}
    assert server["devices"] == [
        {"name": "cuda:0 RTX", "type": "cuda", "vram_free": 2**30, "vram_total": 2**33}
    ]
    assert [t["id"] for t in snapshot["tabs"]] == [str(tab.id)]
    assert snapshot["jobs"][0]["id"] == str(job.id) and snapshot["jobs"][0]["status"] == "running"
    assert json.loads(staff.get(f"{POOL}snapshot.json").content)["servers"][0]["name"] == "gpu1"


def test_the_page_sends_everyone_else_to_the_login(client, plain_user):
    response = client.get(POOL)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/?next=/admin/pool/")
    client.force_login(plain_user)
    response = client.get(POOL)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_actions_and_snapshot_answer_404_to_everyone_else(client, plain_user, alice, sent):
    server = make_server("gpu1")
    job = submit(alice, make_tab(alice))
    urls = [
        f"{POOL}servers/{server.id}/drain/",
        f"{POOL}servers/{server.id}/refresh/",
        f"{POOL}tabs/{job.tab_id}/unlock/",
        f"{POOL}jobs/{job.id}/cancel/",
        f"{POOL}jobs/{job.id}/retry/",
    ]
    for who in ("anonymous", "non-staff"):
        if who == "non-staff":
            client.force_login(plain_user)
        assert client.get(f"{POOL}snapshot.json").status_code == 404, who
        for url in urls:
            for method in (client.post, client.get):
                response = method(url)
                assert response.status_code == 404, f"{who} {method.__name__} {url}: {response.status_code}"
    server.refresh_from_db()
    assert not server.draining and Job.objects.get(id=job.id).status == JobStatus.PENDING
    assert sent["nudges"] == [] and sent["events"] == []


def test_actions_need_the_csrf_token(staff_user, sent):
    server = make_server("gpu1")
    client, token = csrf_client(staff_user)
    assert client.post(f"{POOL}servers/{server.id}/drain/").status_code == 403
    assert not Server.objects.get(id=server.id).draining
    response = client.post(f"{POOL}servers/{server.id}/drain/", headers={"X-CSRFToken": token})
    assert response.status_code == 200 and response.json() == {"ok": True, "message": "gpu1: draining."}
    assert Server.objects.get(id=server.id).draining


def test_server_actions(staff_user, sent):
    server = make_server("gpu1")
    client, token = csrf_client(staff_user)

    def act(action):
        return client.post(f"{POOL}servers/{server.id}/{action}/", headers={"X-CSRFToken": token})

    for action, field, value in [
        ("disable", "enabled", False),
        ("enable", "enabled", True),
        ("drain", "draining", True),
        ("undrain", "draining", False),
    ]:
        assert act(action).status_code == 200
        assert getattr(Server.objects.get(id=server.id), field) is value, action
    assert act("refresh").status_code == 200
    assert sent["nudges"][-1] == ("refresh", {"server": server.id})
    assert act("explode").status_code == 400
    assert sent["notified"] == 5, "open dashboards refresh right after each action"


def test_force_unlock_cancels_only_that_tabs_jobs(staff_user, alice, bob, sent):
    gpu1 = make_server("gpu1")
    mine, other = make_tab(alice), make_tab(bob)
    job, others_job = submit(alice, mine), submit(bob, other)
    place(job, gpu1)
    place(others_job, gpu1)
    client, token = csrf_client(staff_user)
    response = client.post(f"{POOL}tabs/{mine.id}/unlock/", headers={"X-CSRFToken": token})
    assert response.status_code == 200 and "cancelled 1 job(s)" in response.json()["message"]
    assert Tab.objects.get(id=mine.id).server is None
    assert Job.objects.get(id=job.id).status == JobStatus.CANCELLED
    assert Tab.objects.get(id=other.id).server_id == gpu1.id
    assert Job.objects.get(id=others_job.id).status == JobStatus.QUEUED
    assert ("cancel", {"job": str(job.id)}) in sent["nudges"]
    assert {group for group, _ in sent["events"]} == {f"tab.{mine.id}"}, "events reach that tab only"


def test_cancel_and_retry_a_job(staff_user, alice, sent):
    gpu1 = make_server("gpu1")
    tab = make_tab(alice)
    pending, queued = submit(alice, tab), submit(alice, tab)
    place(queued, gpu1)
    client, token = csrf_client(staff_user)

    def act(job, action):
        return client.post(f"{POOL}jobs/{job.id}/{action}/", headers={"X-CSRFToken": token})

    assert act(pending, "cancel").status_code == 200
    assert Job.objects.get(id=pending.id).status == JobStatus.CANCELLED
    assert act(queued, "cancel").status_code == 200
    assert Job.objects.get(id=queued.id).cancel_requested, "a prompt on a server is cancelled by the relay"
    assert ("cancel", {"job": str(queued.id)}) in sent["nudges"]

    assert act(queued, "retry").status_code == 409, "an active job is not run twice"
    response = act(pending, "retry")
    assert response.status_code == 200
    again = Job.objects.get(id=response.json()["job"])
    assert (again.tab_id, again.session_key, again.params) == (tab.id, alice, pending.params)
    assert again.status == JobStatus.PENDING and ("submit", {}) in sent["nudges"]
    assert any(m["type"] == "job.updated" and m["job"]["id"] == str(again.id) for _, m in sent["events"])
