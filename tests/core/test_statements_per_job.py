"""What one job costs the database (issue Y): the statements and transactions of its life in
the job service and the relay's state changes, from submission to a stored result, held to
a budget so that a change that adds round trips to the hot path shows here first.

The HTTP requests around it (upload, submit, download: each reads the session) and the
relay's dispatch pass (waiting jobs, fair order) are outside this count.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.core import attempts, service
from tests.factories import make_server, make_tab, make_upload

pytestmark = pytest.mark.django_db

# Measured 2026-12-02 (SQLite): 42 statements, most of them plain SQL (jobs.core.sql), in 3
# transactions: submit, bind, and the finish with the queueing and start it carries (a quick
# prompt ends within the relay's MOVES_HOLD of its POST /prompt, so they are written with
# its end: jobs.relay.watcher), one commit each (nested blocks make no savepoint of their
# own; the tab's release commits with the finish). 45 in 4 before that group commit. The
# budget leaves no room to grow.
STATEMENTS, TRANSACTIONS = 42, 3
LARGE = {"object_info": {f"Node{i}": {"input": {"required": {}}} for i in range(2000)}}


def test_a_job_from_submission_to_stored_result_stays_within_its_statement_budget(alice):
    make_server(**LARGE)  # a real server's /object_info is megabytes: never read on this path
    tab = make_tab(alice)
    upload = make_upload(alice)
    with CaptureQueriesContext(connection) as queries:
        job, _ = service.submit_job(alice, tab.id, "invert", {"image": str(upload.id)})
        ticket, _ = attempts.start_attempt(job.id)
        moves = attempts.Moves(queued=True, prompt_number=1.0, running=True)
        output = attempts.StoredOutput("3", 0, "out.png", "out.png", "output", "image/png", 8, 8)
        attempts.finish(job.id, ticket.attempt, "succeeded", outputs=[output], moves=moves)
    sql = [q["sql"] for q in queries.captured_queries]
    transactions = sum(1 for s in sql if s.startswith(("BEGIN", "SAVEPOINT")))
    assert not any('"object_info"' in s for s in sql), "a server's /object_info was read"
    assert len(sql) <= STATEMENTS and transactions <= TRANSACTIONS, (len(sql), transactions, sql)


class _Relay:
    """This process's relay as jobs.core.handoff sees it: holding every server."""

    def holds_every_server(self) -> bool:
        return True


@pytest.mark.django_db(transaction=True)
def test_a_job_bound_in_its_submission_makes_one_commit_fewer(alice):
    """jobs.core.handoff.Here: the bind joins the submission's transaction (in savepoints)."""
    from jobs.core import handoff

    make_server(**LARGE)
    tab = make_tab(alice)
    upload = make_upload(alice)
    relay = _Relay()
    handoff.register(relay)
    try:
        with CaptureQueriesContext(connection) as queries:
            here = handoff.Here()
            job, _ = service.submit_job(alice, tab.id, "invert", {"image": str(upload.id)}, bind=here)
            assert here.ticket is not None
            moves = attempts.Moves(queued=True, prompt_number=1.0, running=True)
            output = attempts.StoredOutput("3", 0, "out.png", "out.png", "output", "image/png", 8, 8)
            attempts.finish(job.id, here.ticket.attempt, "succeeded", outputs=[output], moves=moves)
    finally:
        handoff.unregister(relay)
    sql = [q["sql"] for q in queries.captured_queries]
    commits = sum(1 for s in sql if s.startswith("BEGIN"))
    assert commits == TRANSACTIONS - 1, sql
    # Measured 2026-12-03: 44. Beside the budget above: two savepoints (four statements) and
    # the check that no other job waits (handoff); less the bind's BEGIN and COMMIT and the
    # number of the submission's own event, which the bind's stands for.
    assert len(sql) <= STATEMENTS + 2, (len(sql), sql)
