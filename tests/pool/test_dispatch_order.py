"""Fair sharing: round robin across sessions, oldest first within each."""

import uuid
from datetime import UTC, datetime, timedelta

from jobs.pool.dispatch import Reservations, Waiting, fair_order, positions

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def waiting(session, minute):
    return Waiting(uuid.uuid4(), session, T0 + timedelta(minutes=minute))


def test_ten_jobs_of_one_person_do_not_hold_up_another():
    alice = [waiting("alice", m) for m in range(10)]
    bob = [waiting("bob", 20), waiting("bob", 21)]
    order = [w.job_id for w in fair_order(alice + bob)]
    assert order[:4] == [alice[0].job_id, bob[0].job_id, alice[1].job_id, bob[1].job_id]
    assert order[4:] == [j.job_id for j in alice[2:]]


def test_the_session_with_fewer_jobs_on_servers_goes_first():
    alice = [waiting("alice", m) for m in range(5)]
    bob = [waiting("bob", 20), waiting("bob", 21)]
    order = [w.job_id for w in fair_order(alice + bob, placed={"alice": 4})]
    assert order[:2] == [bob[0].job_id, bob[1].job_id], "alice already has four jobs running"


def test_a_waiting_job_reserves_the_capacity_it_waits_for():
    reserved = Reservations()
    locked = Waiting(uuid.uuid4(), "a", T0, tab_server=1)
    reserved.waited(locked, frozenset({1}))
    assert not reserved.allows(Waiting(uuid.uuid4(), "b", T0, tab_server=1))
    assert reserved.allows(Waiting(uuid.uuid4(), "b", T0, tab_server=2))
    assert reserved.allows(Waiting(uuid.uuid4(), "b", T0, tab_server=None))
    reserved.waited(Waiting(uuid.uuid4(), "c", T0), None)
    assert not reserved.allows(Waiting(uuid.uuid4(), "b", T0, tab_server=2))


def test_oldest_first_within_a_session_and_positions_count_from_zero():
    jobs = [waiting("s", 3), waiting("s", 1), waiting("s", 2)]
    order = fair_order(jobs)
    assert [w.job_id for w in order] == [jobs[1].job_id, jobs[2].job_id, jobs[0].job_id]
    assert positions(order)[jobs[0].job_id] == 2
