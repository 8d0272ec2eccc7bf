"""The plain SQL of the hot path (jobs.core.sql) reads what the ORM reads, and converts each
backend's shapes: SQLite's text here, PostgreSQL's objects in the unit tests below (the
multi-process tests in tests/scale run the whole path on a real PostgreSQL)."""

import uuid
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from jobs.core import sql
from jobs.core.models import Job, Output, Workflow
from tests.factories import make_server, make_tab

pytestmark = pytest.mark.django_db


def _job(session_key: str, **fields) -> Job:
    tab = make_tab(session_key)
    workflow = Workflow.objects.get(slug="invert")
    return Job.objects.create(
        tab=tab, session_key=session_key, workflow=workflow, params={"n": [1, "ü"]}, **fields
    )


def test_a_job_row_is_what_the_orm_reads(alice):
    server = make_server("gpu-ü")
    job = _job(
        alice, server=server, status="failed", attempt=2, error={"code": "x", "message": "m", "node": None}
    )
    Job.objects.filter(id=job.id).update(started_at=timezone.now(), finished_at=timezone.now())
    columns = [
        "id", "tab_id", "workflow__slug", "status", "server__name", "attempt", "params", "error",
        "created_at", "started_at", "finished_at",
    ]  # fmt: skip
    assert sql.job_row(job.id) == Job.objects.filter(id=job.id).values(*columns).get()
    assert sql.job_row(str(job.id)) == sql.job_row(job.id)


def test_a_raw_graph_job_has_no_workflow_and_no_server(alice):
    job = Job.objects.create(tab=make_tab(alice), session_key=alice, graph={"1": {}}, params={})
    row = sql.job_row(job.id)
    assert row is not None
    assert (row["workflow__slug"], row["server__name"], row["error"], row["started_at"]) == (
        None,
        None,
        None,
        None,
    )


def test_no_such_job_is_none(db):
    assert sql.job_row(uuid.uuid4()) is None


def test_outputs_in_the_orm_order_with_their_shown_columns(alice):
    job = _job(alice, status="succeeded")
    for node, index in (("9", 1), ("10", 0), ("9", 0)):
        Output.objects.create(
            job=job, node_id=node, index=index, filename=f"{node}-{index}.png", width=3, height=4
        )
    rows = sql.outputs_of(job.id)
    expected = list(Output.objects.filter(job=job))
    assert [r.id for r in rows] == [o.id for o in expected]
    assert [(r.filename, r.media, r.width, r.height, r.kind, r.text) for r in rows] == [
        (o.filename, o.media, o.width, o.height, o.kind, o.text) for o in expected
    ]


def test_postgresql_shapes_pass_through_and_sqlite_shapes_convert():
    found = uuid.uuid4()
    assert sql.to_uuid(found) is found and sql.to_uuid(found.hex) == found and sql.to_uuid(None) is None
    aware = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    assert sql.to_datetime(aware) is aware and sql.to_datetime(aware.replace(tzinfo=None)) == aware
    assert sql.to_datetime("2026-12-01 15:00:00.250000") == aware.replace(microsecond=250000)
    assert sql.from_json('{"a": [1]}') == {"a": [1]} and sql.from_json(None) is None
    assert sql.as_json(None) is None and sql.as_json({"a": "ü"}) == '{"a": "\\u00fc"}'


def test_keys_are_stored_as_the_orm_stores_them(alice):
    job = _job(alice)
    assert sql.count('UPDATE "jobs_job" SET "attempt" = 7 WHERE "id" = %s', [sql.key(str(job.id))]) == 1
    assert Job.objects.get(id=job.id).attempt == 7


def test_counting_locking_and_reading_a_tab_lock(alice):
    server = make_server("gpu-lock")
    job = _job(alice)
    assert sql.active_jobs("tab_id", job.tab_id, ("pending",)) == 1
    assert sql.active_jobs("session_key", alice, ("queued",)) == 0
    with pytest.raises(ValueError):
        sql.active_jobs("status", "pending", ("pending",))
    assert sql.tab_server_for_update(job.tab_id) == (True, None) and sql.lock_of(job.tab_id) is None
    assert sql.tab_server_for_update(uuid.uuid4()) == (False, None)
    now = timezone.now()
    assert sql.lock_tab(job.tab_id, server.id, now) and not sql.lock_tab(job.tab_id, server.id, now)
    assert sql.lock_of(job.tab_id) == ("gpu-lock", now)
    assert sql.server_address(server.id) == (server.id, "gpu-lock", server.url)
    assert sql.server_address(server.id + 100) is None


def test_an_attempt_inserted_is_one_the_orm_reads(alice):
    server = make_server("gpu-a")
    job = _job(alice)
    sql.insert_attempt(job.id, 1, server.id, "pending")
    attempt = job.attempts.get()
    assert (attempt.number, attempt.server_id, attempt.status, attempt.prompt_number) == (
        1,
        server.id,
        "pending",
        None,
    )
    assert abs((timezone.now() - attempt.created_at).total_seconds()) < 60


def test_a_job_to_dispatch_reads_as_the_orm_with_its_workflow(alice):
    job = _job(alice, needs={"classes": ["ImageInvert"]}, secrets={"api_key_comfy_org": "k"})
    dispatched = sql.job_to_dispatch(job.id)
    orm = Job.objects.select_related("workflow").get(id=job.id)
    assert dispatched is not None and dispatched[1] is None  # its tab has no lock
    found = dispatched[0]
    assert found.workflow is not None
    for name in (
        "id",
        "tab_id",
        "session_key",
        "status",
        "server_id",
        "attempt",
        "params",
        "needs",
        "secrets",
    ):
        assert getattr(found, name) == getattr(orm, name), name
    assert found.created_at == orm.created_at and found.graph_to_run == orm.graph_to_run
    assert (found.workflow.slug, found.workflow.params) == (orm.workflow.slug, orm.workflow.params)
    assert found.source == orm.source  # a deferred column is read when asked for
    raw = Job.objects.create(tab=job.tab, session_key=alice, graph={"1": {"class_type": "X"}}, params={})
    server = make_server("gpu-d")
    job.tab.server = server
    job.tab.save()
    dispatched_raw = sql.job_to_dispatch(raw.id)
    assert dispatched_raw is not None and dispatched_raw[1] == server.id
    found_raw = dispatched_raw[0]
    assert found_raw.workflow is None and found_raw.graph_to_run == {"1": {"class_type": "X"}}
    assert sql.job_to_dispatch(uuid.uuid4()) is None


def test_an_output_file_with_its_owner_and_slug(alice):
    job = _job(alice, status="succeeded")
    output = Output.objects.create(
        job=job, node_id="3", index=0, file="outputs/x.png", filename="x.png", size=5
    )
    found = sql.output_file(output.id)
    assert found is not None
    row, owner, slug = found
    assert (owner, slug) == (alice, "invert")
    for name in (
        "id",
        "job_id",
        "node_id",
        "index",
        "file",
        "filename",
        "media",
        "content_type",
        "size",
        "created_at",
    ):
        assert getattr(row, name) == getattr(output, name), name
    assert sql.output_file(uuid.uuid4()) is None


def test_binding_a_job_is_won_once(alice):
    server = make_server("gpu-b")
    job = _job(alice)
    assert sql.bind_job(job.id, server.id, 1) and not sql.bind_job(job.id, server.id, 2)
    assert Job.objects.values_list("server_id", "attempt").get(id=job.id) == (server.id, 1)


def _plan(statement) -> str:
    """SQLite's query plan of the last statement `statement()` runs."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        statement()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + captured.captured_queries[-1]["sql"])
        return " ".join(str(row[-1]) for row in cursor.fetchall())


@pytest.mark.parametrize(
    ("column", "index"), [("session_key", "jobs_job_owner_status"), ("tab_id", "jobs_job_tab_status")]
)
def test_counting_active_jobs_reads_an_index_not_every_job(column, index):
    """Every submission counts its owner's and its tab's active jobs: an owner with years of
    finished jobs must not make that count read them all (SQLite's plan names the index)."""
    plan = _plan(lambda: sql.active_jobs(column, str(uuid.uuid4()), ("pending", "queued", "running")))
    assert f"COVERING INDEX {index}" in plan


def test_counting_each_servers_active_jobs_reads_an_index_not_every_job():
    """Every dispatch counts each server's active jobs (jobs.core.locks.server_loads): a
    server's years of finished jobs must not be read each time."""
    plan = _plan(lambda: sql.active_counts([1, 2], ("pending", "queued", "running")))
    assert "COVERING INDEX jobs_job_server_status" in plan


def test_new_rows_are_stored_as_the_orm_stores_them(alice):
    """sql.insert_rows: every column, `created_at` set, and a clash skipped when asked."""
    job = _job(alice)
    first = Output(job_id=job.id, node_id="9", index=0, filename="ü.png", width=8, duration=1.5, size=3)
    second = Output(job_id=job.id, node_id="9", index=1, filename="b.txt", media="text", text="é")
    sql.insert_rows([first, second])
    stored = Output.objects.filter(job=job).order_by("index")
    assert [(o.id, o.filename, o.width, o.duration, o.text) for o in stored] == [
        (first.id, "ü.png", 8, 1.5, ""),
        (second.id, "b.txt", None, None, "é"),
    ]
    assert all(o.created_at is not None for o in stored) and first.created_at == stored[0].created_at
    sql.insert_rows(
        [Output(job_id=job.id, node_id="9", index=0, filename="again.png")], ignore_conflicts=True
    )
    assert Output.objects.get(job=job, index=0).filename == "ü.png"
    first.filename = "saved.png"
    first.save()  # an instance it stored is one the ORM knows as stored: an UPDATE
    assert Output.objects.get(id=first.id).filename == "saved.png"


def _driver_cursor_taken(monkeypatch) -> list[str]:
    """Record the statements that ran on the driver's own cursor (not Django's)."""
    taken: list[str] = []
    real = sql._qmarks.__wrapped__

    def recording(text: str) -> str:
        taken.append(text)
        return real(text)

    monkeypatch.setattr(sql, "_qmarks", recording)
    return taken


def test_statements_run_on_the_drivers_cursor_with_djangos_errors_and_checks(alice, monkeypatch):
    from django.db import IntegrityError, connection, transaction
    from django.db.transaction import TransactionManagementError

    job = _job(alice)
    taken = _driver_cursor_taken(monkeypatch)
    assert sql.job_row(job.id)["id"] == job.id
    assert taken, "the statement went through Django's cursor"
    duplicate = 'INSERT INTO "jobs_job" ("id") VALUES (%s)'
    with pytest.raises(IntegrityError):  # the driver's error, as django.db's
        sql.count(duplicate, [sql.key(job.id)])
    with transaction.atomic():
        with pytest.raises(IntegrityError), transaction.atomic():
            sql.count(duplicate, [sql.key(job.id)])
        connection.set_rollback(True)
        with pytest.raises(TransactionManagementError):  # a broken transaction refuses, as in Django
            sql.job_row(job.id)
    assert sql.one("SELECT %s || '%%'", ["50"]) == ("50%",)  # Django's placeholder rules


def test_logged_statements_go_through_djangos_cursor_and_are_counted(alice, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    job = _job(alice)
    taken = _driver_cursor_taken(monkeypatch)
    with CaptureQueriesContext(connection) as queries:
        sql.job_row(job.id)
    assert not taken and len(queries.captured_queries) == 1
