"""The job life cycle as plain function calls (no request, no socket)."""

import pytest

from jobs.core import attempts, errors, service, tabs
from jobs.core.models import Attempt, Job, JobStatus, Output, Tab
from tests.factories import make_server, make_tab, make_upload

pytestmark = pytest.mark.django_db


def submit(session, tab_id=None):
    tab_id = tab_id or make_tab(session).id
    upload = make_upload(session)
    return service.submit_job(session, tab_id, "invert", {"image": str(upload.id)})


def test_submit_stores_a_pending_job_and_numbers_the_event(alice):
    job, found = submit(alice)
    assert job.status == JobStatus.PENDING and job.server is None
    ((group, message),) = found
    assert group == f"tab.{job.tab_id}"
    assert message["type"] == "job.updated" and message["seq"] == 1
    assert message["job"]["id"] == str(job.id)


def test_tab_id_is_bound_to_its_first_session(alice, bob):
    tab = make_tab(alice)
    with pytest.raises(errors.Forbidden):
        tabs.claim_tab(tab.id, bob)


def test_foreign_upload_is_refused(alice, bob):
    upload = make_upload(bob)
    with pytest.raises(errors.ServiceError) as error:
        service.submit_job(alice, make_tab(alice).id, "invert", {"image": str(upload.id)})
    assert error.value.field == "image"


def test_unknown_workflow_is_refused(alice):
    with pytest.raises(errors.ServiceError) as error:
        service.submit_job(alice, make_tab(alice).id, "nope", {})
    assert error.value.code == "unknown_workflow"


def test_active_job_limit_per_tab(alice, settings):
    settings.COMFYWEB_MAX_ACTIVE_PER_TAB = 2
    tab = make_tab(alice)
    submit(alice, tab.id)
    submit(alice, tab.id)
    with pytest.raises(errors.ServiceError) as error:
        submit(alice, tab.id)
    assert error.value.status == 429


def test_attempt_life_cycle_to_success_releases_the_lock(alice):
    server = make_server()
    job, _ = submit(alice)
    ticket, found = attempts.start_attempt(job.id)
    assert ticket.server_url == server.url and ticket.attempt == 1
    assert [m["type"] for _, m in found] == ["lock.updated", "job.updated"]
    assert [m["seq"] for _, m in found] == [2, 3]
    attempts.mark_queued(job.id, 1, 0)
    attempts.mark_running(job.id, 1)
    output = attempts.StoredOutput(
        "3", 0, "outputs/x/3_0.png", "invert_00001_.png", "output", "image/png", 8, 8
    )
    found = attempts.finish(job.id, 1, JobStatus.SUCCEEDED, outputs=[output])
    assert [m["type"] for _, m in found] == ["job.updated", "lock.updated"]
    assert found[1][1]["lock"] is None
    assert Tab.objects.get(id=job.tab_id).server is None
    assert Attempt.objects.get(job=job).status == JobStatus.SUCCEEDED


def test_completion_is_idempotent(alice):
    make_server()
    job, _ = submit(alice)
    attempts.start_attempt(job.id)
    output = attempts.StoredOutput("3", 0, "outputs/x/3_0.png", "a.png", "output", "image/png", 8, 8)
    assert attempts.finish(job.id, 1, JobStatus.SUCCEEDED, outputs=[output])
    assert attempts.finish(job.id, 1, JobStatus.SUCCEEDED, outputs=[output]) == []
    assert Output.objects.filter(job=job).count() == 1


def test_stale_attempt_cannot_finish_a_newer_one(alice):
    make_server()
    job, _ = submit(alice)
    attempts.start_attempt(job.id)
    attempts.back_to_pending(job.id, 1, "server restarted")
    attempts.start_attempt(job.id)
    assert attempts.finish(job.id, 1, JobStatus.FAILED) == []
    assert Job.objects.get(id=job.id).status == JobStatus.PENDING


def test_cancel_pending_job_is_immediate(alice):
    job, _ = submit(alice)
    result = service.cancel_job(alice, job.id)
    assert result.job.status == JobStatus.CANCELLED and not result.needs_relay


def test_cancel_queued_job_goes_through_the_relay(alice):
    make_server()
    job, _ = submit(alice)
    attempts.start_attempt(job.id)
    attempts.mark_queued(job.id, 1, 0)
    result = service.cancel_job(alice, job.id)
    assert result.needs_relay and result.job.status == JobStatus.QUEUED
    assert Job.objects.get(id=job.id).cancel_requested


def test_other_session_cannot_see_or_cancel(alice, bob):
    job, _ = submit(alice)
    with pytest.raises(errors.NotFound):
        service.cancel_job(bob, job.id)


def test_snapshot_is_current_to_its_seq(alice):
    job, _ = submit(alice)
    snapshot = tabs.tab_snapshot(job.tab_id)
    assert snapshot["seq"] == 1 and snapshot["lock"] is None
    assert [j["id"] for j in snapshot["jobs"]] == [str(job.id)]


def test_queued_and_running_asked_together_are_one_commit_with_an_event_each(alice):
    """A quick prompt's frames overtake the answer to its POST /prompt: the relay writes both
    moves in one trip (attempts.advance), and the tab still sees each change, in order."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_server()
    job, _ = submit(alice)
    ticket, _ = attempts.start_attempt(job.id)
    with CaptureQueriesContext(connection) as queries:
        found, cancel = attempts.advance(
            job.id, ticket.attempt, attempts.Moves(queued=True, prompt_number=7.0, running=True)
        )
    assert [m["job"]["status"] for _, m in found] == ["queued", "running"]
    assert [m["seq"] for _, m in found] == [found[0][1]["seq"], found[0][1]["seq"] + 1]
    assert sum(1 for q in queries.captured_queries if q["sql"].startswith(("BEGIN", "SAVEPOINT"))) == 1
    assert cancel is False
    attempt = Attempt.objects.get(job=job, number=ticket.attempt)
    assert (attempt.status, attempt.prompt_number) == ("running", 7.0)


def test_a_quick_prompts_queueing_start_and_end_are_one_commit_with_an_event_each(alice):
    """A prompt that ends before its queueing and start were written: the relay hands them to
    the finish (group commit), and the tab still sees queued, running, succeeded, in order,
    then its lock released."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_server()
    job, _ = submit(alice)
    ticket, _ = attempts.start_attempt(job.id)
    moves = attempts.Moves(queued=True, prompt_number=5.0, running=True)
    with CaptureQueriesContext(connection) as queries:
        found = attempts.finish(job.id, ticket.attempt, JobStatus.SUCCEEDED, moves=moves)
    statuses = [m["job"]["status"] for _, m in found if m["type"] == "job.updated"]
    assert statuses == ["queued", "running", "succeeded"]
    assert [m["type"] for _, m in found][-1] == "lock.updated"
    seqs = [m["seq"] for _, m in found]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert sum(1 for q in queries.captured_queries if q["sql"].startswith(("BEGIN", "SAVEPOINT"))) == 1
    stored = Job.objects.get(id=job.id)
    assert stored.status == JobStatus.SUCCEEDED and stored.started_at is not None
    assert Attempt.objects.get(job=job, number=ticket.attempt).prompt_number == 5.0


def test_a_queueing_written_after_the_start_keeps_the_job_running(alice):
    make_server()
    job, _ = submit(alice)
    ticket, _ = attempts.start_attempt(job.id)
    attempts.advance(job.id, ticket.attempt, attempts.Moves(running=True))
    Job.objects.filter(id=job.id).update(cancel_requested=True)
    found, cancel = attempts.advance(job.id, ticket.attempt, attempts.Moves(queued=True, prompt_number=3.0))
    assert found == [] and cancel is True  # no move back; the cancel asked for meanwhile is seen
    assert Job.objects.get(id=job.id).status == JobStatus.RUNNING
    assert Attempt.objects.get(job=job, number=ticket.attempt).prompt_number == 3.0
