"""Usage per person and per group (issue U): the figures match the jobs that ran, over a period,
on the staff page, in its CSV and in /metrics (per group only)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from jobs.core import usage
from jobs.core.models import Job, JobStatus, Tab, Workflow

pytestmark = pytest.mark.django_db


def ran(owner: str, status: str, seconds: float | None, days_ago: int = 0) -> Job:
    """A job of `owner` that ran `seconds` on a server (None: never started), `days_ago`."""
    tab = Tab.objects.filter(session_key=owner).first() or Tab.objects.create(
        id=uuid.uuid4(), session_key=owner
    )
    job = Job.objects.create(
        tab=tab, session_key=owner, workflow=Workflow.objects.get(slug="invert"), status=status
    )
    created = timezone.now() - timedelta(days=days_ago)
    start = None if seconds is None else created + timedelta(seconds=1)
    finish = None if start is None or seconds is None else start + timedelta(seconds=seconds)
    Job.objects.filter(id=job.id).update(created_at=created, started_at=start, finished_at=finish)
    return job


@pytest.fixture
def studio():
    artists, leads = Group.objects.create(name="artists"), Group.objects.create(name="leads")
    Group.objects.create(name="idle")
    ann = User.objects.create_user("ann")
    ann.groups.set([artists, leads])
    bob = User.objects.create_user("bob")
    bob.groups.set([artists])
    ran(f"user:{ann.pk}", JobStatus.SUCCEEDED, 2.5)
    ran(f"user:{ann.pk}", JobStatus.FAILED, 0.5)
    ran(f"user:{bob.pk}", JobStatus.SUCCEEDED, 4.0)
    ran(f"user:{bob.pk}", JobStatus.CANCELLED, None)
    ran(f"user:{bob.pk}", JobStatus.SUCCEEDED, 10.0, days_ago=3)
    ran("anonymoussessionkey", JobStatus.SUCCEEDED, 1.0)
    return ann, bob


def test_per_person_and_per_group_figures_match_the_jobs(studio):
    people = {u.who: u for u in usage.by_person()}
    assert (people["ann"].jobs, people["ann"].failures, people["ann"].gpu_seconds) == (
        2,
        1,
        pytest.approx(3.0),
    )
    assert (people["bob"].jobs, people["bob"].succeeded, people["bob"].gpu_seconds) == (
        3,
        2,
        pytest.approx(14.0),
    )
    assert people[usage.ANONYMOUS].jobs == 1
    groups = {u.who: u for u in usage.by_group()}
    assert groups["artists"].jobs == 5 and groups["artists"].gpu_seconds == pytest.approx(17.0)
    assert groups["leads"].jobs == 2 and groups["idle"].jobs == 0


def test_a_period_counts_only_its_jobs(studio):
    today = {u.who: u for u in usage.by_person(since=timezone.now() - timedelta(days=1))}
    assert today["bob"].jobs == 2 and today["bob"].gpu_seconds == pytest.approx(4.0)


def test_the_staff_page_and_its_csv(studio):
    staff = User.objects.create_user("ops", is_staff=True)
    client = Client()
    client.force_login(staff)
    page = client.get("/admin/pool/usage/")
    assert page.status_code == 200 and b"ann" in page.content and b"artists" in page.content
    since = (timezone.localdate() - timedelta(days=1)).isoformat()
    answer = client.get(f"/admin/pool/usage/?since={since}&format=csv")
    assert answer["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode())))
    bob = next(r for r in rows if r["kind"] == "person" and r["who"] == "bob")
    assert (bob["jobs"], bob["gpu_seconds"]) == ("2", "4.0")
    assert Client().get("/admin/pool/usage/").status_code == 302, "staff only"


def test_metrics_report_usage_per_group_only(studio, settings):
    settings.COMFYWEB_METRICS_TOKEN = "t" * 24
    text = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer " + "t" * 24).content.decode()
    assert 'comfyweb_group_jobs{group="artists"} 5.0' in text
    assert 'comfyweb_group_gpu_seconds{group="artists"} 17.0' in text
    # No person anywhere: neither as a label's value nor in a sample's name (help texts are
    # prose, where "ann" may be part of a word such as "channel").
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert not {"ann", "bob"} & {*sample.labels.values()}, sample
            assert "ann" not in sample.name and "bob" not in sample.name, sample
    assert '"ann"' not in text and '"bob"' not in text
