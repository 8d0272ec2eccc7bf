"""The tab life cycle: bound to a session, cleaned up when gone, force-unlocked by staff."""

from datetime import timedelta

import pytest
from django.contrib.admin.sites import site
from django.test import Client
from django.utils import timezone

from jobs.core import attempts, service, tabs
from jobs.core.models import Job, JobStatus, Tab
from tests.factories import make_server, make_tab, make_upload

pytestmark = pytest.mark.django_db


def submit(session, tab):
    upload = make_upload(session)
    job, _ = service.submit_job(session, tab.id, "invert", {"image": str(upload.id)})
    return job


def age(tab, seconds, connected=0):
    Tab.objects.filter(id=tab.id).update(
        last_seen=timezone.now() - timedelta(seconds=seconds), connected=connected
    )


def test_closed_tab_is_kept_while_its_job_runs_then_cleaned_up(alice):
    make_server()
    tab = make_tab(alice)
    job = submit(alice, tab)
    attempts.start_attempt(job.id)
    age(tab, 600)
    assert tabs.close_gone_tabs(grace=300) == 0, "a closed tab's job keeps running"
    attempts.finish(job.id, 1, JobStatus.SUCCEEDED)
    assert tabs.close_gone_tabs(grace=300) == 1
    tab.refresh_from_db()
    assert tab.closed_at is not None and tab.server is None
    assert Job.objects.filter(id=job.id, status="succeeded").exists(), "results stay in the gallery"


def test_tab_without_jobs_is_deleted_after_the_grace(alice):
    tab = make_tab(alice)
    age(tab, 100)
    assert tabs.close_gone_tabs(grace=300) == 0
    age(tab, 400)
    assert tabs.close_gone_tabs(grace=300) == 1
    assert not Tab.objects.filter(id=tab.id).exists()


def test_connected_tab_is_kept_unless_silent_for_long(alice):
    tab = make_tab(alice)
    age(tab, 120, connected=1)
    assert tabs.close_gone_tabs(grace=60) == 0, "a connected tab heartbeats"
    age(tab, tabs.STALE + 1, connected=1)
    assert tabs.close_gone_tabs(grace=60) == 1, "its process died without saying so"


def test_reconnect_reopens_a_closed_tab(alice):
    tab = make_tab(alice)
    submit(alice, tab)
    Job.objects.filter(tab=tab).update(status="succeeded")
    age(tab, 400)
    tabs.close_gone_tabs(grace=300)
    tabs.tab_connected(tab.id, +1)
    assert Tab.objects.get(id=tab.id).closed_at is None


def test_force_unlock_cancels_only_that_tabs_jobs(alice, bob):
    make_server()
    mine, theirs = make_tab(alice), make_tab(bob)
    my_jobs = [submit(alice, mine) for _ in range(2)]
    their_job = submit(bob, theirs)
    for job in [*my_jobs, their_job]:
        attempts.start_attempt(job.id)
    attempts.mark_queued(my_jobs[0].id, 1, 0)
    result = service.force_unlock(mine.id)
    assert sorted(result.on_servers) == sorted(str(j.id) for j in my_jobs)
    assert [m["type"] for _, m in result.events] == ["job.updated", "job.updated", "lock.updated"]
    assert Tab.objects.get(id=mine.id).server is None
    assert set(Job.objects.filter(tab=mine).values_list("status", flat=True)) == {"cancelled"}
    assert Job.objects.get(id=their_job.id).status == "pending"
    assert Tab.objects.get(id=theirs.id).server is not None
    assert attempts.finish(my_jobs[0].id, 1, JobStatus.SUCCEEDED) == [], "a late result is dropped"


def test_staff_force_unlock_from_the_admin(alice, admin_user):
    make_server()
    tab = make_tab(alice)
    job = submit(alice, tab)
    attempts.start_attempt(job.id)
    client = Client()
    client.force_login(admin_user)
    listing = client.get("/admin/jobs/tab/")
    assert listing.status_code == 200 and str(tab.id) in listing.content.decode()
    answer = client.post(
        "/admin/jobs/tab/", {"action": "force_unlock", "_selected_action": [str(tab.id)]}, follow=True
    )
    assert answer.status_code == 200 and "Unlocked 1 tab" in answer.content.decode()
    assert Job.objects.get(id=job.id).status == "cancelled"
    assert Tab in site._registry


def test_tab_list_is_staff_only(alice):
    answer = Client().get("/admin/jobs/tab/")
    assert answer.status_code == 302 and "/admin/login/" in answer["Location"]


def test_comfyui_servers_accepts_bare_host_names_and_refuses_bad_urls(db):
    from django.core.exceptions import ImproperlyConfigured

    from jobs.core.servers import register_servers

    (server,) = register_servers(["http://gpu1:8188/"])
    assert server.url == "http://gpu1:8188" and server.name == "gpu1-8188"
    assert register_servers(["http://gpu1:8188"]) == [server], "added once"
    for bad in ["ftp://gpu1", "gpu1:8188", "http://user:pw@gpu1", "http://gpu 1:8188"]:
        with pytest.raises(ImproperlyConfigured):
            register_servers([bad])
