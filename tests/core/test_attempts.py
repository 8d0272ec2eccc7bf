"""Dispatch decisions in the database: waiting for room, capabilities, attempts, failover."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.core import attempts, service
from jobs.core.models import Job, Server, Tab, Workflow
from jobs.relay.interrupts import supports_targeted_interrupt
from tests.factories import make_server, make_tab, make_upload

pytestmark = pytest.mark.django_db


def submit(session, tab, workflow="invert"):
    upload = make_upload(session)
    job, _ = service.submit_job(session, tab.id, workflow, {"image": str(upload.id)})
    return job


def test_a_full_server_makes_the_tabs_next_job_wait_in_comfyweb(alice):
    make_server(max_queued=2)
    tab = make_tab(alice)
    jobs = [submit(alice, tab) for _ in range(3)]
    assert attempts.start_attempt(jobs[0].id)[0] is not None
    assert attempts.start_attempt(jobs[1].id)[0] is not None
    with pytest.raises(attempts.WaitForRoom) as wait:
        attempts.start_attempt(jobs[2].id)
    assert wait.value.server_id == Tab.objects.get(id=tab.id).server_id
    assert Job.objects.get(id=jobs[2].id).status == "pending"
    attempts.finish(jobs[0].id, 1, "succeeded")
    assert attempts.start_attempt(jobs[2].id)[0] is not None, "room again: it goes"


def test_new_tabs_go_to_a_server_with_room(alice):
    busy = make_server("busy", max_queued=1, weight=10.0)
    free = make_server("free", max_queued=1)
    first, second = make_tab(alice), make_tab(alice)
    assert attempts.start_attempt(submit(alice, first).id)[0].server_id == busy.id, "the heavier server"
    ticket, _ = attempts.start_attempt(submit(alice, second).id)
    assert ticket.server_id == free.id, "busy has the better score but no room in its queue"


def test_a_workflow_no_server_can_run_fails_with_the_missing_nodes(alice):
    server = make_server()  # its inventory not read yet: the job is accepted
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}},
        "2": {"class_type": "SimSampler", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}},
    }
    params = [{"name": "image", "type": "image", "node": "1", "input": "image"}]
    Workflow.objects.create(slug="sampler", name="Sampler", graph=graph, params=params)
    job = submit(alice, make_tab(alice), "sampler")
    # The relay reads it: the pool's only server lacks a node, so the job cannot run anywhere.
    Server.objects.filter(id=server.id).update(
        node_classes=["LoadImage", "ImageInvert", "SaveImage"], model_files={}
    )
    ticket, found = attempts.start_attempt(job.id)
    job.refresh_from_db()
    assert ticket is None and job.status == "failed"
    assert job.error["code"] == "no_capable_server" and "SimSampler" in job.error["message"]
    assert found[0][1]["job"]["status"] == "failed"


def test_gives_up_after_the_maximum_attempts(alice, settings):
    settings.COMFYWEB_MAX_ATTEMPTS = 2
    make_server()
    job = submit(alice, make_tab(alice))
    for number in (1, 2):
        attempts.start_attempt(job.id)
        attempts.back_to_pending(job.id, number, f"The server gpu1 failed on the job ({number}).")
    ticket, _ = attempts.start_attempt(job.id)
    job.refresh_from_db()
    assert ticket is None and job.status == "failed" and job.error["code"] == "too_many_attempts"
    last = "The server gpu1 failed on the job (2)."
    assert job.error["message"] == f"Gave up after 2 attempts. The last one: {last}"


def test_failover_moves_the_whole_tab_only_after_the_delay(alice):
    down = make_server("down")
    make_server("up")
    tab = make_tab(alice)
    jobs = [submit(alice, tab) for _ in range(2)]
    for job in jobs:
        attempts.start_attempt(job.id)
    Server.objects.filter(id=down.id).update(status="offline", offline_since=timezone.now())
    if Tab.objects.get(id=tab.id).server_id != down.id:
        Tab.objects.filter(id=tab.id).update(server=down)
        Job.objects.filter(tab=tab).update(server=down)
    assert attempts.fail_over_unreachable(after=30) == [], "not unreachable for long enough yet"
    Server.objects.filter(id=down.id).update(offline_since=timezone.now() - timedelta(seconds=31))
    moved = attempts.fail_over_unreachable(after=30)
    assert [m["type"] for _, m in moved] == ["job.updated", "job.updated", "lock.updated"]
    assert Tab.objects.get(id=tab.id).server is None
    assert set(Job.objects.filter(tab=tab).values_list("status", "server")) == {("pending", None)}
    tickets = [attempts.start_attempt(j.id)[0] for j in jobs]
    assert {t.server_url for t in tickets} == {"http://up.invalid:8188"} and {t.attempt for t in tickets} == {
        2
    }
    assert attempts.finish(jobs[0].id, 1, "succeeded") == [], "the old attempt's result is dropped"


@pytest.mark.parametrize(
    ("version", "targeted"),
    [("0.3.64", True), ("v0.3.70", True), ("1.0.0", True), ("0.3.10", False), ("", False), ("dev", False)],
)
def test_targeted_interrupt_is_trusted_only_on_versions_known_to_honour_it(version, targeted):
    assert supports_targeted_interrupt(version) is targeted
