"""A job's life through the plain SQL of jobs.core.sql, run inside `manage.py shell` against
whatever DATABASE_URL names (tests/scale/test_sql_postgres.py: a real PostgreSQL). Each step
is checked against what the ORM reads of the same rows."""

from __future__ import annotations

import uuid

from django.db import transaction

from jobs.core import attempts, locks, service, sql, uploads
from jobs.core.models import Job, Output, Tab, Upload
from tests.factories import make_server, make_tab, png_bytes


def main() -> None:
    owner = "owner-" + uuid.uuid4().hex[:8]
    server = make_server("pg-gpu")  # online, with a lease: the lease join is read too
    tab = make_tab(owner)
    data = png_bytes()
    upload = uploads.accept_upload(owner, data, "in.png")  # stored by sql.insert_rows
    assert Upload.objects.filter(id=upload.id).values("session_key", "width", "size").get() == {
        "session_key": owner,
        "width": 8,
        "size": len(data),
    }

    job, submitted = service.submit_job(owner, tab.id, "invert", {"image": str(upload.id)})
    assert submitted[0][1]["job"]["status"] == "pending", submitted
    waiting, placed = attempts.waiting_jobs()
    assert [w.job_id for w in waiting] == [job.id] and placed == {}, (waiting, placed)

    with transaction.atomic():
        loads = locks.server_loads()
    assert [load.name for load in loads] == ["pg-gpu"] and loads[0].outstanding == 0, loads
    ticket, bound = attempts.start_attempt(job.id, planned=server.id)
    assert ticket is not None and Job.objects.get(id=job.id).server_id == server.id, bound

    moves = attempts.Moves(queued=True, prompt_number=3.0, running=True)
    (queued, running), cancelled = attempts.advance(job.id, ticket.attempt, moves)
    assert queued[1]["job"]["status"] == "queued" and cancelled is False, queued
    assert running[1]["job"]["started_at"] is not None, running
    out = attempts.StoredOutput("3", 0, "outputs/o.png", "o.png", "output", "image/png", 8, 8, size=10)
    ended = attempts.finish(job.id, ticket.attempt, "succeeded", outputs=[out])
    shown = ended[0][1]["job"]
    assert shown["status"] == "succeeded" and shown["outputs"][0]["filename"] == "o.png", shown
    assert Tab.objects.get(id=tab.id).server_id is None
    assert Output.objects.filter(job_id=job.id).values_list("filename", "size").get() == ("o.png", 10)
    again = Output(job_id=job.id, node_id="3", index=0, filename="other.png")  # the same slot
    sql.insert_rows([again], ignore_conflicts=True)  # a repeated completion's: skipped
    assert Output.objects.filter(job_id=job.id).count() == 1

    columns = [
        "id", "tab_id", "workflow__slug", "status", "server__name", "attempt", "params", "error",
        "created_at", "started_at", "finished_at",
    ]  # fmt: skip
    assert sql.job_row(job.id) == Job.objects.filter(id=job.id).values(*columns).get()
    assert attempts.finish(job.id, ticket.attempt, "failed", error={"code": "x"}) == []
    failed, _ = service.submit_job(owner, tab.id, "invert", {"image": str(upload.id)})
    second, _ = attempts.start_attempt(failed.id)
    assert second is not None
    attempts.finish(failed.id, second.attempt, "failed", error={"code": "boom", "message": "ü"})
    assert Job.objects.get(id=failed.id).error == {"code": "boom", "message": "ü"}
    print("LIFECYCLE OK")
