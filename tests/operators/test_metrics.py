"""GET /metrics: pool state from the database, relay timings, and who may read it."""

from __future__ import annotations

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from jobs.core import instruments, service
from jobs.core.models import Job, Tab
from tests.factories import make_server, make_tab, make_upload

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-metrics-token"


def samples(response) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def submit(session, tab):
    upload = make_upload(session)
    job, _ = service.submit_job(session, tab.id, "invert", {"image": str(upload.id)})
    return job


def test_staff_read_jobs_by_status_queues_and_health(staff, alice):
    gpu1 = make_server("gpu1", status="online", queue_remaining=3)
    make_server("gpu2", status="offline", draining=True)
    tab = make_tab(alice)
    queued, pending = submit(alice, tab), submit(alice, tab)
    Job.objects.filter(id=queued.id).update(status="queued", server=gpu1)
    Tab.objects.filter(id=tab.id).update(server=gpu1, locked_at=timezone.now())
    Job.objects.filter(id=pending.id).update(created_at=timezone.now() - timezone.timedelta(seconds=90))

    response = staff.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    found = samples(response)
    assert found[("comfyweb_jobs", (("status", "queued"),))] == 1
    assert found[("comfyweb_jobs", (("status", "pending"),))] == 1
    assert found[("comfyweb_jobs", (("status", "succeeded"),))] == 0
    assert found[("comfyweb_server_up", (("server", "gpu1"),))] == 1
    assert found[("comfyweb_server_up", (("server", "gpu2"),))] == 0
    assert found[("comfyweb_server_draining", (("server", "gpu2"),))] == 1
    assert found[("comfyweb_server_queue_remaining", (("server", "gpu1"),))] == 3
    assert found[("comfyweb_server_active_jobs", (("server", "gpu1"),))] == 1
    assert found[("comfyweb_server_locked_tabs", (("server", "gpu1"),))] == 1
    assert found[("comfyweb_tabs_locked", ())] == 1
    assert 89 < found[("comfyweb_pending_oldest_seconds", ())] < 120


def test_relay_timings_are_exported_under_their_names(staff):
    before = samples(staff.get("/metrics"))
    instruments.DISPATCH_SECONDS.observe(0.3)
    instruments.COMPLETION_SECONDS.observe(4.2)
    instruments.RELAY_LAG_SECONDS.set(0.05)
    after = samples(staff.get("/metrics"))
    assert (
        after[("comfyweb_dispatch_seconds_count", ())] == before[("comfyweb_dispatch_seconds_count", ())] + 1
    )
    assert (
        after[("comfyweb_completion_seconds_count", ())]
        == before[("comfyweb_completion_seconds_count", ())] + 1
    )
    assert after[("comfyweb_dispatch_seconds_bucket", (("le", "0.5"),))] >= 1
    assert after[("comfyweb_relay_lag_seconds", ())] == 0.05


def test_a_bearer_token_reads_the_metrics_when_one_is_set(client, settings):
    settings.COMFYWEB_METRICS_TOKEN = TOKEN
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and b"comfyweb_jobs" in response.content
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert client.get("/metrics", headers={"Authorization": TOKEN}).status_code == 404


@pytest.mark.parametrize("token", ["", TOKEN])
def test_anyone_else_gets_a_404(client, plain_user, settings, token):
    settings.COMFYWEB_METRICS_TOKEN = token
    assert client.get("/metrics").status_code == 404, "anonymous"
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404, "empty token"
    client.force_login(plain_user)
    response = client.get("/metrics")
    assert response.status_code == 404, "logged in but not staff"
    assert b"comfyweb_" not in response.content
