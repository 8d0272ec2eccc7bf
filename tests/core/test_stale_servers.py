"""A server's status is evidence only while its lease holder vouches for it (issue R).

A status left by an earlier process, or by a relay whose lease expired, counts as unknown: such
a server takes no new lock, and a tab locked to it with nothing running there moves at once.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.core import attempts, locks, service
from jobs.core.models import Job, RelayLease, Server, Tab
from tests.factories import make_server, make_tab, make_upload

pytestmark = pytest.mark.django_db


def submit(session, tab):
    upload = make_upload(session)
    job, _ = service.submit_job(session, tab.id, "invert", {"image": str(upload.id)})
    return job


def left_by_an_earlier_run(name: str) -> Server:
    """Online as an earlier process wrote it; its lease now held by nobody that vouches."""
    server = make_server(name, watched=False, status="online", status_by="old-host-web:41:dead")
    RelayLease.objects.create(server=server, holder="old-host-web:41:dead", expires_at=timezone.now())
    return server


def test_a_status_left_by_an_earlier_process_takes_no_lock(alice):
    left_by_an_earlier_run("sim-1")
    live = make_server("live")
    ticket, _ = attempts.start_attempt(submit(alice, make_tab(alice)).id)
    assert ticket.server_id == live.id


def test_when_no_status_is_fresh_the_job_waits_and_says_no_server_is_reachable(alice):
    left_by_an_earlier_run("sim-1")
    stale = make_server("other-relay", watched=False, status="online", status_by="relay-b:7:x")
    RelayLease.objects.create(server=stale, holder="relay-c:9:y", expires_at=timezone.now() + timedelta(60))
    job = submit(alice, make_tab(alice))
    with pytest.raises(attempts.WaitForRoom) as wait:
        attempts.start_attempt(job.id)
    assert wait.value.server_id is None and wait.value.reachable is False
    assert Job.objects.get(id=job.id).status == "pending" and Job.objects.get(id=job.id).attempt == 0


def test_a_busy_pool_is_not_an_unreachable_one(alice):
    make_server("full", max_queued=1)
    submit_one = submit(alice, make_tab(alice))
    attempts.start_attempt(submit_one.id)
    with pytest.raises(attempts.WaitForRoom) as wait:
        attempts.start_attempt(submit(alice, make_tab(alice)).id)
    assert wait.value.reachable is True


def test_a_tab_locked_to_a_server_with_nothing_of_it_there_moves_at_once(alice):
    old = left_by_an_earlier_run("sim-1")
    live = make_server("live")
    tab = make_tab(alice)
    Tab.objects.filter(id=tab.id).update(server=old, locked_at=timezone.now())
    ticket, found = attempts.start_attempt(submit(alice, tab).id)
    assert ticket.server_id == live.id
    assert Tab.objects.get(id=tab.id).server_id == live.id
    locks_sent = [event for _, event in found if event["type"] == "lock.updated"]
    assert locks_sent[0]["lock"] is None, "the old lock is released first"
    assert locks_sent[-1]["lock"]["server"] == "live"


def test_a_tab_with_work_on_an_unreachable_server_waits_for_it(alice):
    make_server("gpu")
    make_server("spare")
    tab = make_tab(alice)
    first = submit(alice, tab)
    ticket, _ = attempts.start_attempt(first.id)
    attempts.mark_queued(first.id, 1, 1)
    Server.objects.filter(id=ticket.server_id).update(status="offline")
    with pytest.raises(attempts.WaitForRoom) as wait:
        attempts.start_attempt(submit(alice, tab).id)
    assert wait.value.server_id == ticket.server_id, "its jobs stay together (SPEC §2 invariant 1)"
    assert Tab.objects.get(id=tab.id).server_id == ticket.server_id


def test_release_from_keeps_a_lock_while_a_job_of_the_tab_is_bound_there(alice):
    make_server("gpu")
    tab = make_tab(alice)
    ticket, _ = attempts.start_attempt(submit(alice, tab).id)
    assert locks.release_from(tab.id, ticket.server_id) is None
    assert Tab.objects.get(id=tab.id).server_id == ticket.server_id
