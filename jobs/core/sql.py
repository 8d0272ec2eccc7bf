"""Plain SQL for the statements every job runs several times (issue Y).

The ORM built each of them anew on every call: compiling a query, its joins and its
converters cost several times the statement itself, and a job ran some forty of them. These
are written once, in SQL that SQLite and PostgreSQL both take (double-quoted names, `%s`
parameters, RETURNING, ON CONFLICT), and their values are converted here, the only place
that knows how each backend hands them back: SQLite gives UUIDs as 32 hex digits and
datetimes as naive UTC; PostgreSQL gives UUID and aware datetime objects. JSON columns come
back as text from both (Django's PostgreSQL backend loads jsonb as text).

Everything else keeps to the ORM: these functions run inside the caller's transaction, under
the same conditional-update rules (jobs.core.attempts), and a test runs each on both
backends' shapes (tests/core/test_sql.py).

They run on the driver's own cursor (`executed`), not Django's: its cursor wrapper (the
connection proxy's thread-local lookups, the async guard, the error wrapper, SQLite's
placeholder rewrite on every execution) cost more than most of these statements themselves;
in process, a job's submit, bind and finish took 2.1 ms instead of 3.1 ms without it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.sqlite3.base import FORMAT_QMARK_REGEX

from jobs.core.models import Job, Output, Tab, Workflow

# A JOB's columns (jobs.core.serializers.job_dict_of_values), in this order.
_JOB_ROW = (
    'SELECT j."id", j."tab_id", w."slug", j."status", s."name", j."attempt", j."params", j."error", '
    'j."created_at", j."started_at", j."finished_at" '
    'FROM "jobs_job" j LEFT JOIN "jobs_workflow" w ON w."id" = j."workflow_id" '
    'LEFT JOIN "jobs_server" s ON s."id" = j."server_id" WHERE j."id" = %s'
)
_OUTPUTS = (
    'SELECT "id", "filename", "media", "content_type", "width", "height", "duration", "size", "kind", '
    '"text" FROM "jobs_output" WHERE "job_id" = %s ORDER BY "node_id", "index"'
)


def key(value: Any) -> Any:
    """A UUID as the backend stores it (SQLite: 32 hex digits)."""
    found = _uuid(value)
    return found.hex if connection.vendor == "sqlite" else found


def when(value: datetime | None) -> Any:
    """A datetime parameter as the backend's column takes it."""
    return connection.ops.adapt_datetimefield_value(value)


def as_json(value: Any) -> str | None:
    """A JSON parameter (None stays SQL NULL, as the ORM writes a null JSONField)."""
    return None if value is None else json.dumps(value)


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def to_uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else _uuid(value)


def to_datetime(value: Any) -> datetime | None:
    """Aware UTC: SQLite's connection parses declared datetime columns to naive UTC ones."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _aware(value: Any) -> datetime:
    found = to_datetime(value)
    assert found is not None  # a NOT NULL column
    return found


def from_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


@contextlib.contextmanager
def executed(text: str, params: Sequence[Any]) -> Iterator[Any]:
    """A cursor of the database driver that ran `text` (`%s` parameters) in the caller's
    connection and transaction, closed on leaving.

    Django's checks that decide something are kept: a transaction that must roll back first
    refuses (TransactionManagementError), the connection is this thread's, and the driver's
    errors come out as django.db's (IntegrityError…). Django's own cursor runs the statement
    when it has work to do around it: the first statement on a new connection (it connects),
    a due health check, logged queries (DEBUG, a test counting statements) and execute
    wrappers.
    """
    db = connections[DEFAULT_DB_ALIAS]
    if (
        db.connection is None
        or db.queries_logged
        or db.execute_wrappers
        # (Django ≥ 4.1 has both; its type stubs do not declare them.)
        or (getattr(db, "health_check_enabled", False) and not getattr(db, "health_check_done", True))
    ):
        with db.cursor() as cursor:
            cursor.execute(text, params)
            yield cursor
        return
    db.validate_no_broken_transaction()
    db.validate_thread_sharing()
    with db.wrap_database_errors:
        if db.vendor == "sqlite":
            cursor = db.connection.cursor()  # the driver's plain cursor, placeholders as it takes them
            native = _qmarks(text)
        else:
            cursor = db.create_cursor()  # the backend's (PostgreSQL: its time zone loader)
            native = text
        try:
            cursor.execute(native, params)
            yield cursor
        finally:
            cursor.close()


@functools.lru_cache(maxsize=1024)
def _qmarks(text: str) -> str:
    """`text` with SQLite's `?` placeholders, as Django's SQLite cursor rewrites it on every
    execution (SQLiteCursorWrapper.convert_query); once per statement text here."""
    return FORMAT_QMARK_REGEX.sub("?", text).replace("%%", "%")


def one(sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    with executed(sql, params) as cursor:
        return cursor.fetchone()


def count(sql: str, params: list[Any]) -> int:
    """Rows changed by an UPDATE or DELETE."""
    with executed(sql, params) as cursor:
        return int(cursor.rowcount)


def all_rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with executed(sql, params) as cursor:
        return list(cursor.fetchall())


def job_row(job_id: Any) -> dict[str, Any] | None:
    """The JOB columns of one job, keyed as `.values()` would key them (`workflow__slug`)."""
    row = one(_JOB_ROW, [key(job_id)])
    if row is None:
        return None
    return {
        "id": to_uuid(row[0]),
        "tab_id": to_uuid(row[1]),
        "workflow__slug": row[2],
        "status": row[3],
        "server__name": row[4],
        "attempt": row[5],
        "params": from_json(row[6]),
        "error": from_json(row[7]),
        "created_at": to_datetime(row[8]),
        "started_at": to_datetime(row[9]),
        "finished_at": to_datetime(row[10]),
    }


@dataclass(frozen=True)
class OutputRow:
    """The columns of an output that its JOB shows (jobs.core.serializers.output_dict)."""

    id: uuid.UUID
    filename: str
    media: str
    content_type: str
    width: int | None
    height: int | None
    duration: float | None
    size: int | None
    kind: str
    text: str


def outputs_of(job_id: Any) -> list[OutputRow]:
    rows = all_rows(_OUTPUTS, [key(job_id)])
    return [OutputRow(to_uuid(row[0]), *row[1:]) for row in rows]  # type: ignore[arg-type]


def _marks(values: tuple[Any, ...] | list[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def move_job(
    job_id: Any, attempt: int, status: str, from_statuses: tuple[str, ...], fields: dict[str, Any]
) -> bool:
    """The conditional update of a job's status (jobs.core.attempts): moved only from one of
    `from_statuses` of this attempt. `fields`: plain columns set with it (datetimes, JSON and
    None adapted here). True when it moved."""
    names = ["status", *fields]
    values = [status, *(_param(value) for value in fields.values())]
    assignments = ", ".join(f'"{name}" = %s' for name in names)
    sql_text = (
        f'UPDATE "jobs_job" SET {assignments} WHERE "id" = %s AND "attempt" = %s '
        f'AND "status" IN ({_marks(from_statuses)})'
    )
    return count(sql_text, [*values, key(job_id), attempt, *from_statuses]) > 0


def move_attempt(job_id: Any, number: int, fields: dict[str, Any]) -> None:
    """Set columns of one attempt of a job (its status, end, error, prompt number)."""
    assignments = ", ".join(f'"{name}" = %s' for name in fields)
    sql_text = f'UPDATE "jobs_attempt" SET {assignments} WHERE "job_id" = %s AND "number" = %s'
    count(sql_text, [*(_param(value) for value in fields.values()), key(job_id), number])


def cancel_requested(job_id: Any) -> bool:
    found = one('SELECT "cancel_requested" FROM "jobs_job" WHERE "id" = %s', [key(job_id)])
    return bool(found and found[0])


def release_if_idle(tab_id: Any, active: tuple[str, ...]) -> bool:
    """Unlock a tab that has no job in `active` statuses at the moment of the update (SPEC
    §2.3: a job that just arrived keeps the lock). True when it released."""
    tab = key(tab_id)
    sql_text = (
        'UPDATE "jobs_tab" SET "server_id" = NULL, "locked_at" = NULL WHERE "id" = %s '
        'AND "server_id" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "jobs_job" '
        f'WHERE "tab_id" = %s AND "status" IN ({_marks(active)}))'
    )
    return count(sql_text, [tab, tab, *active]) > 0


def _param(value: Any) -> Any:
    """A column value as the backend takes it: UUIDs and datetimes adapted, dicts and lists
    as JSON."""
    if isinstance(value, uuid.UUID):
        return key(value)
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, dict | list):
        return as_json(value)
    return value


@dataclass(frozen=True)
class ServerRow:
    """What placement reads of an enabled server (jobs.core.locks.server_loads): never its
    large columns but the inventory and warmth, as their JSON text (decoded once per
    distinct text by the caller), with its lease beside it (jobs.pool.trust)."""

    id: int
    name: str
    enabled: bool
    draining: bool
    weight: float
    max_concurrent: int | None
    max_queued: int
    queue_remaining: int
    status: str
    status_by: str
    classes_text: str | None
    models_text: str | None
    warmth_text: str | None
    lease_holder: str | None
    lease_expires: datetime | None


_SERVERS = (
    'SELECT s."id", s."name", s."enabled", s."draining", s."weight", s."max_concurrent", s."max_queued", '
    's."queue_remaining", s."status", s."status_by", CAST(s."node_classes" AS TEXT), '
    'CAST(s."model_files" AS TEXT), CAST(s."warmth" AS TEXT), l."holder", l."expires_at" '
    'FROM "jobs_server" s LEFT JOIN "jobs_relaylease" l ON l."server_id" = s."id" '
    'WHERE s."enabled" = %s ORDER BY s."id"'
)


def enabled_servers(*, for_update: bool) -> list[ServerRow]:
    """Every enabled server; `for_update`: their rows locked until the transaction ends, where
    the backend locks rows (PostgreSQL; SQLite's writers are serialized anyway)."""
    text = _SERVERS
    if for_update and connection.features.has_select_for_update_of:
        text += " FOR UPDATE OF s"
    rows = all_rows(text, [True])
    return [
        ServerRow(
            id=row[0],
            name=row[1],
            enabled=bool(row[2]),
            draining=bool(row[3]),
            weight=row[4],
            max_concurrent=row[5],
            max_queued=row[6],
            queue_remaining=row[7],
            status=row[8],
            status_by=row[9],
            classes_text=row[10],
            models_text=row[11],
            warmth_text=row[12],
            lease_holder=row[13],
            lease_expires=to_datetime(row[14]),
        )
        for row in rows
    ]


def active_counts(server_ids: list[int], statuses: tuple[str, ...]) -> dict[int, int]:
    """Each server's jobs in these statuses (the active ones: bound, queued, running)."""
    if not server_ids:
        return {}
    text = (
        f'SELECT "server_id", COUNT(*) FROM "jobs_job" WHERE "status" IN ({_marks(statuses)}) '
        f'AND "server_id" IN ({_marks(server_ids)}) GROUP BY "server_id"'
    )
    return {int(server): int(n) for server, n in all_rows(text, [*statuses, *server_ids])}


def unbound_pending(limit: int) -> list[tuple[uuid.UUID, str, datetime, int | None, Any, uuid.UUID]]:
    """(job, owner, created, its tab's server, needs, tab) of the oldest pending jobs on no
    server: what the relay's dispatch pass orders (jobs.pool.dispatch)."""
    text = (
        'SELECT j."id", j."session_key", j."created_at", t."server_id", j."needs", j."tab_id" '
        'FROM "jobs_job" j JOIN "jobs_tab" t ON t."id" = j."tab_id" '
        'WHERE j."status" = %s AND j."server_id" IS NULL ORDER BY j."created_at" LIMIT %s'
    )
    rows = all_rows(text, ["pending", limit])
    return [
        (_uuid(job), owner, _aware(created), server, from_json(needs), _uuid(tab))
        for job, owner, created, server, needs, tab in rows
    ]


def others_wait_unbound(job_id: Any) -> bool:
    """Whether a pending job on no server, other than this one, waits for the relay's pass
    (then a new job is not bound ahead of it: jobs.core.handoff)."""
    text = 'SELECT 1 FROM "jobs_job" WHERE "status" = %s AND "server_id" IS NULL AND "id" <> %s LIMIT 1'
    return one(text, ["pending", key(job_id)]) is not None


def placed_per_owner(statuses: tuple[str, ...]) -> dict[str, int]:
    """Each owner's jobs on servers in these (active) statuses: the fair order's first key."""
    text = (
        'SELECT "session_key", COUNT(*) FROM "jobs_job" WHERE "server_id" IS NOT NULL '
        f'AND "status" IN ({_marks(statuses)}) GROUP BY "session_key"'
    )
    return {owner: int(n) for owner, n in all_rows(text, list(statuses))}


def active_jobs(column: str, value: Any, statuses: tuple[str, ...]) -> int:
    """How many jobs of one tab (`tab_id`) or one owner (`session_key`) are in these statuses."""
    if column not in ("tab_id", "session_key"):
        raise ValueError(f"not a column to count jobs by: {column}")
    param = key(value) if column == "tab_id" else value
    text = f'SELECT COUNT(*) FROM "jobs_job" WHERE "{column}" = %s AND "status" IN ({_marks(statuses)})'
    found = one(text, [param, *statuses])
    return int(found[0]) if found else 0


def insert_attempt(job_id: Any, number: int, server_id: int, status: str) -> None:
    count(
        'INSERT INTO "jobs_attempt" ("job_id", "number", "server_id", "status", "prompt_number", "error", '
        '"created_at", "finished_at") VALUES (%s, %s, %s, %s, NULL, NULL, %s, NULL)',
        [key(job_id), number, server_id, status, when(datetime.now(UTC))],
    )


def tab_server_for_update(tab_id: Any) -> tuple[bool, int | None]:
    """(whether the tab exists, its locked server), its row locked where the backend locks
    rows, so two dispatches of one tab take turns."""
    text = 'SELECT "server_id" FROM "jobs_tab" WHERE "id" = %s'
    if connection.features.has_select_for_update:
        text += " FOR UPDATE"
    found = one(text, [key(tab_id)])
    return (False, None) if found is None else (True, found[0])


def lock_tab(tab_id: Any, server_id: int, now: datetime) -> bool:
    """Lock an unlocked tab to a server; False when it was locked meanwhile."""
    text = 'UPDATE "jobs_tab" SET "server_id" = %s, "locked_at" = %s WHERE "id" = %s AND "server_id" IS NULL'
    return count(text, [server_id, when(now), key(tab_id)]) > 0


def lock_of(tab_id: Any) -> tuple[str, datetime | None] | None:
    """The tab's locked server's name and since when; None when it has no lock."""
    found = one(
        'SELECT s."name", t."locked_at" FROM "jobs_tab" t JOIN "jobs_server" s ON s."id" = t."server_id" '
        'WHERE t."id" = %s',
        [key(tab_id)],
    )
    return None if found is None else (found[0], to_datetime(found[1]))


def server_address(server_id: int) -> tuple[int, str, str] | None:
    """(id, name, url) of a server: all a dispatch needs of it."""
    found = one('SELECT "id", "name", "url" FROM "jobs_server" WHERE "id" = %s', [server_id])
    return None if found is None else (found[0], found[1], found[2])


# In the model's field order, as Model.from_db() takes a subset of columns.
_JOB_FIELDS = (
    "id", "tab_id", "session_key", "workflow_id", "graph", "secrets", "params", "needs",
    "status", "server_id", "attempt", "created_at",
)  # fmt: skip
_JOB_TO_DISPATCH = (
    "SELECT "
    + ", ".join(f'j."{name}"' for name in _JOB_FIELDS)
    + ', w."slug", w."name", w."graph", w."params", t."server_id" FROM "jobs_job" j '
    'JOIN "jobs_tab" t ON t."id" = j."tab_id" '
    'LEFT JOIN "jobs_workflow" w ON w."id" = j."workflow_id" WHERE j."id" = %s'
)


def job_to_dispatch(job_id: Any) -> tuple[Job, int | None] | None:
    """The job a dispatch binds, with its workflow's graph and parameters (a Job whose other
    columns are deferred, read if asked for), and the server its tab is locked to; or None."""
    row = one(_JOB_TO_DISPATCH, [key(job_id)])
    if row is None:
        return None
    values = [
        _uuid(row[0]), _uuid(row[1]), row[2], row[3],
        *map(from_json, row[4:8]), row[8], row[9], row[10], _aware(row[11]),
    ]  # fmt: skip
    job = Job.from_db(connection.alias, _JOB_FIELDS, values)
    # Its workflow as the select_related() of before: what a ticket and its needs read.
    workflow_values = [row[3], row[12], row[13], from_json(row[14]), from_json(row[15])]
    fields = ["id", "slug", "name", "graph", "params"]
    job.workflow = None if row[3] is None else Workflow.from_db(connection.alias, fields, workflow_values)
    return job, row[16]


_OUTPUT_FIELDS = (
    "id", "job_id", "node_id", "index", "file", "filename", "kind", "media", "content_type",
    "width", "height", "duration", "size", "text", "thumbnail", "created_at",
)  # fmt: skip
_OUTPUT_FILE = (
    "SELECT "
    + ", ".join(f'o."{name}"' for name in _OUTPUT_FIELDS)
    + ', j."session_key", w."slug" FROM "jobs_output" o JOIN "jobs_job" j ON j."id" = o."job_id" '
    'LEFT JOIN "jobs_workflow" w ON w."id" = j."workflow_id" WHERE o."id" = %s'
)


def output_file(output_id: Any) -> tuple[Output, str, str | None] | None:
    """An output, its job's owner and its workflow's slug (None for a raw graph's), in one
    statement: every result is downloaded at least once."""
    row = one(_OUTPUT_FILE, [key(output_id)])
    if row is None:
        return None
    values = [_uuid(row[0]), _uuid(row[1]), *row[2:15], _aware(row[15])]
    return Output.from_db(connection.alias, _OUTPUT_FIELDS, values), row[16], row[17]


def upload_file(upload_id: Any) -> tuple[str, str] | None:
    """(stored file name, sha256) of an upload: what a dispatch sends to ComfyUI."""
    found = one('SELECT "file", "sha256" FROM "jobs_upload" WHERE "id" = %s', [key(upload_id)])
    return None if found is None else (found[0], found[1])


def session_data(session_key: str, now: datetime) -> tuple[str, datetime] | None:
    """A session's encoded data and expiry, if it has not expired (jobs.web.sessions)."""
    found = one(
        'SELECT "session_data", "expire_date" FROM "django_session" WHERE "session_key" = %s '
        'AND "expire_date" > %s',
        [session_key, when(now)],
    )
    return None if found is None else (found[0], _aware(found[1]))


_WORKFLOW_FIELDS = ("id", "slug", "name", "params", "enabled", "requirements")


def enabled_workflow(slug: str) -> Workflow | None:
    """An enabled workflow by its slug, without its graph (a submission does not bind it)."""
    row = one(
        'SELECT "id", "slug", "name", "params", "enabled", "requirements" FROM "jobs_workflow" '
        'WHERE "slug" = %s AND "enabled" = %s',
        [slug, True],
    )
    if row is None:
        return None
    values = [row[0], row[1], row[2], from_json(row[3]), bool(row[4]), from_json(row[5])]
    return Workflow.from_db(connection.alias, _WORKFLOW_FIELDS, values)


def upload_media(upload_id: Any, owner: str) -> str | None:
    """The media of one of the owner's uploads (None: no such upload of theirs)."""
    found = one(
        'SELECT "media" FROM "jobs_upload" WHERE "id" = %s AND "session_key" = %s', [key(upload_id), owner]
    )
    return None if found is None else found[0]


def tab_owner(tab_id: Any) -> str | None:
    found = one('SELECT "session_key" FROM "jobs_tab" WHERE "id" = %s', [key(tab_id)])
    return None if found is None else found[0]


def insert_tab(tab_id: Any, owner: str, now: datetime) -> None:
    """A tab on first use; nothing when it exists (two first uses at once: the other won)."""
    insert_rows(
        [Tab(id=_uuid(tab_id), session_key=owner, created_at=now, last_seen=now)], ignore_conflicts=True
    )


def insert_job(
    tab_id: uuid.UUID, owner: str, workflow: Workflow, params: Any, needs: Any, source: str, now: datetime
) -> Job:
    """A new pending job of a workflow, stored in one statement (insert_rows); its workflow
    attached, so its JOB needs no read."""
    job = Job(
        tab_id=tab_id,
        session_key=owner,
        workflow=workflow,
        params=params,
        needs=needs,
        source=source,
        created_at=now,
    )
    insert_rows([job])
    return job


def insert_rows(rows: Sequence[models.Model], *, ignore_conflicts: bool = False) -> None:
    """New rows of one model in one statement, as `bulk_create` stores them (a result's
    outputs, an upload) without the ORM's compiling: every column from the instances, an
    `auto_now_add` one set now, and, with `ignore_conflicts`, rows that clash skipped."""
    if not rows:
        return
    meta = type(rows[0])._meta
    fields = meta.concrete_fields
    now = datetime.now(UTC)
    params: list[Any] = []
    for row in rows:
        for field in fields:
            if getattr(field, "auto_now_add", False) and getattr(row, field.attname) is None:
                setattr(row, field.attname, now)
            value = getattr(row, field.attname)
            params.append(as_json(value) if isinstance(field, models.JSONField) else _param(value))
        row._state.adding, row._state.db = False, connection.alias  # stored, as after the ORM's
    names = ", ".join(f'"{field.column}"' for field in fields)
    values = ", ".join([f"({_marks(fields)})"] * len(rows))
    text = f'INSERT INTO "{meta.db_table}" ({names}) VALUES {values}'
    count(text + (" ON CONFLICT DO NOTHING" if ignore_conflicts else ""), params)


def bind_job(job_id: Any, server_id: int, attempt: int) -> bool:
    """Bind a pending job on no server to a server as its attempt `attempt`; False when it
    was bound (or ended) meanwhile: of two relays binding one job, the first wins."""
    text = (
        'UPDATE "jobs_job" SET "server_id" = %s, "attempt" = %s '
        'WHERE "id" = %s AND "status" = %s AND "server_id" IS NULL'
    )
    return count(text, [server_id, attempt, key(job_id), "pending"]) > 0
