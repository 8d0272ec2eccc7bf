"""Property test: any interleaving of tab and job operations keeps SPEC §2 invariants 2–3.

Hypothesis drives the same plain functions the views and the relay call, in random order,
and checks after every step: one lock per tab, all of a tab's placed active jobs on it,
no lock without active work, finished jobs never change, and each tab's events are numbered
one after another.
"""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from jobs.core import attempts, service
from jobs.core.models import ACTIVE_STATUSES, FINISHED_STATUSES, Job, JobStatus, Server, Tab
from tests.factories import make_server, make_session, make_tab, make_upload


class LockMachine(RuleBasedStateMachine):
    tabs = Bundle("tabs")
    jobs = Bundle("jobs")

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.sessions = [make_session(), make_session()]
        self.servers = [make_server(f"s{i}") for i in range(3)]
        self.uploads = {s: make_upload(s) for s in self.sessions}
        self.seqs: dict = {}
        self.finished: dict = {}
        self.open_tabs = 0

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    def _record(self, found) -> None:
        for group, message in found:
            if "seq" in message:
                tab = group.removeprefix("tab.")
                expected = self.seqs.get(tab, 0) + 1
                assert message["seq"] == expected, f"{message['type']} seq {message['seq']} != {expected}"
                self.seqs[tab] = message["seq"]

    @precondition(lambda self: self.open_tabs < 3)  # few tabs, so each gets several jobs
    @rule(target=tabs, who=st.integers(0, 1))
    def open_tab(self, who):
        self.open_tabs += 1
        return make_tab(self.sessions[who]).id

    @rule(target=jobs, tab=tabs)
    def submit(self, tab):
        session = Tab.objects.get(id=tab).session_key
        try:
            job, found = service.submit_job(session, tab, "invert", {"image": str(self.uploads[session].id)})
        except service.ServiceError:
            return None  # the active-job limit
        self._record(found)
        return job.id

    @rule(job=jobs)
    def dispatch(self, job):
        if job is None:
            return
        try:
            _, found = attempts.start_attempt(job)
        except attempts.WaitForRoom:
            return
        self._record(found)

    @rule(job=jobs, running=st.booleans())
    def advance(self, job, running):
        if job is None:
            return
        attempt = Job.objects.get(id=job).attempt
        step = attempts.mark_running if running else attempts.mark_queued
        self._record(step(job, attempt) if running else step(job, attempt, 0))

    @rule(
        job=consumes(jobs),
        status=st.sampled_from([JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED]),
    )
    def finish(self, job, status):
        if job is None:
            return
        attempt = Job.objects.get(id=job).attempt
        self._record(attempts.finish(job, attempt, status))

    @rule(job=jobs)
    def lose_attempt(self, job):
        if job is None:
            return
        self._record(attempts.back_to_pending(job, Job.objects.get(id=job).attempt, "server restarted"))

    @rule(job=jobs)
    def cancel(self, job):
        if job is None:
            return
        session = Job.objects.get(id=job).session_key
        self._record(service.cancel_job(session, job).events)

    @rule(tab=tabs)
    def force_unlock(self, tab):
        self._record(service.force_unlock(tab).events)

    @rule(index=st.integers(0, 2), offline=st.booleans())
    def server_health(self, index, offline):
        Server.objects.filter(id=self.servers[index].id).update(status="offline" if offline else "online")

    @invariant()
    def one_tab_one_server(self):
        for tab in Tab.objects.all():
            placed = Job.objects.filter(tab=tab, status__in=ACTIVE_STATUSES, server__isnull=False)
            servers = set(placed.values_list("server_id", flat=True))
            if servers:
                assert servers == {tab.server_id}, "every placed active job runs on the tab's lock"
            if tab.server_id is not None:
                assert Job.objects.filter(tab=tab, status__in=ACTIVE_STATUSES).exists(), (
                    "no lock without work"
                )

    @invariant()
    def finished_jobs_stay_finished(self):
        for job_id, status in Job.objects.filter(status__in=FINISHED_STATUSES).values_list("id", "status"):
            assert self.finished.setdefault(job_id, status) == status


@pytest.mark.django_db
def test_lock_and_job_state_machine():
    run_state_machine_as_test(
        LockMachine,
        settings=settings(
            max_examples=80,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
