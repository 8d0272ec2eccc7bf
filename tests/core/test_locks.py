"""SPEC §2.2–2.3: one tab, one lock; taken by the balancer, released when the tab is idle."""

import threading

import pytest
from django.db import connection

from jobs.core import attempts, locks, service
from jobs.core.models import Job, JobStatus, Tab
from tests.factories import make_server, make_tab, make_upload

pytestmark = pytest.mark.django_db


def _job(tab, session, status=JobStatus.PENDING, server=None):
    upload = make_upload(session)
    job, _ = service.submit_job(session, tab.id, "invert", {"image": str(upload.id)})
    Job.objects.filter(id=job.id).update(status=status, server=server)
    return job


def test_lock_taken_on_least_loaded_server(alice):
    busy, idle = make_server("busy"), make_server("idle")
    other = make_tab(alice)
    _job(other, alice, JobStatus.RUNNING, busy)
    tab = make_tab(alice)
    server, seq = locks.acquire(tab.id)
    assert server == idle and seq == 1
    assert Tab.objects.get(id=tab.id).server == idle


def test_second_acquire_keeps_the_same_server(alice):
    make_server("a"), make_server("b")
    tab = make_tab(alice)
    first, _ = locks.acquire(tab.id)
    _job(tab, alice, JobStatus.QUEUED, first)
    again, seq = locks.acquire(tab.id)
    assert again == first and seq is None


def test_offline_and_disabled_servers_get_no_lock(alice):
    make_server("down", status="offline")
    make_server("off", enabled=False)
    with pytest.raises(locks.NoServerAvailable):
        locks.acquire(make_tab(alice).id)


def test_release_waits_for_the_last_active_job(alice):
    server = make_server()
    tab = make_tab(alice)
    locks.acquire(tab.id)
    job = _job(tab, alice, JobStatus.RUNNING, server)
    assert locks.release_if_idle(tab.id) is None
    Job.objects.filter(id=job.id).update(status=JobStatus.SUCCEEDED)
    assert locks.release_if_idle(tab.id) is not None
    assert Tab.objects.get(id=tab.id).server is None


def test_tabs_spread_over_the_pool(alice):
    servers = [make_server(f"s{i}") for i in range(3)]
    used = set()
    for _ in range(6):
        tab = make_tab(alice)
        server, _ = locks.acquire(tab.id)
        _job(tab, alice, JobStatus.QUEUED, server)
        used.add(server.name)
    assert used == {s.name for s in servers}


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatches_of_one_tab_bind_one_server(alice):
    for i in range(4):
        make_server(f"s{i}")
    tab = make_tab(alice)
    jobs = [_job(tab, alice) for _ in range(6)]
    results, errors = [], []

    def dispatch(job_id):
        try:
            ticket, _ = attempts.start_attempt(job_id)
            results.append(ticket.server_id)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatch, args=(j.id,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 6 and len(set(results)) == 1
    assert Tab.objects.get(id=tab.id).server_id == results[0]
