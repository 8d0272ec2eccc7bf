"""Take and release a tab's server lock (SPEC §2.2, §2.3, §2.8).

Every change is a conditional write inside a transaction, so that two processes racing on
the same tab end with one lock, and a release never loses a job that just arrived.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from jobs.core import sql
from jobs.core.models import ACTIVE_STATUSES, Attempt, Job, Server, ServerStatus, Tab
from jobs.pool.balancer import UNPLANNED, Planned, ServerLoad, pick_server
from jobs.pool.inventory import Inventory, inventory_from_json
from jobs.pool.requirements import NOTHING, Needs, needs_from_json
from jobs.pool.trust import effective_status
from jobs.pool.warmth import Warmth, warmth_from_json


class NoServerAvailable(Exception):
    """No enabled, reachable server can take the tab's work right now."""


def bump_seq(tab_id) -> int:
    """Number the next state change of a tab (SPEC §5). Call inside the change's transaction.

    One statement (UPDATE … RETURNING, in SQLite ≥ 3.35 and PostgreSQL): every state change
    of every job numbers itself here, so a second query would show in the throughput.
    """
    connection = connections[Tab.objects.db]
    if not connection.features.can_return_columns_from_insert:  # no RETURNING: two steps
        Tab.objects.filter(id=tab_id).update(seq=F("seq") + 1)
        return Tab.objects.filter(id=tab_id).values_list("seq", flat=True).get()
    table = connection.ops.quote_name(Tab._meta.db_table)
    key = Tab._meta.pk.get_db_prep_value(tab_id, connection)
    row = sql.one(f"UPDATE {table} SET seq = seq + 1 WHERE id = %s RETURNING seq", [key])
    if row is None:
        raise Tab.DoesNotExist(f"no tab {tab_id}")
    return int(row[0])


def server_loads(
    *, for_update: bool = True, warmth: bool = True, counted: bool | None = None
) -> list[ServerLoad]:
    """Every enabled server with its outstanding ComfyWeb work, read in the caller's transaction
    (`for_update=False`: a plain read without the work counted, for judging a submission by
    inventories and statuses alone, without locking the pool). `warmth=False`: for a job that
    needs no model file, without projecting each server's warm models (one query less).
    `counted`: whether the outstanding work is counted (by default when locking).

    Race: two tabs taking a lock at the same moment would both count the same load and pile
    onto one server. Locking the server rows first makes the second wait for the first's
    commit and count its job (SQLite's IMMEDIATE transactions serialize writers anyway).
    """
    # The inventory (node list, model files) is read as its JSON text and decoded once per
    # distinct text (a real ComfyUI lists hundreds of classes; this runs for every dispatch),
    # in plain SQL (jobs.core.sql): it runs for every submission and every dispatch. With the
    # server's lease beside it, to tell a fresh status from one left by an earlier process
    # (jobs.pool.trust); only the server rows are locked (the lease may be absent).
    rows = sql.enabled_servers(for_update=for_update)
    now = timezone.now()
    # Counted over active jobs only (the status index), never over every job a server ran:
    # this runs for every dispatch, and the job table only grows.
    ids = [s.id for s in rows]
    warm = warmth and settings.COMFYWEB_WARM_PLACEMENT
    ahead = _last_placed(ids) if for_update and warm else {}
    count = for_update if counted is None else counted
    outstanding = sql.active_counts(ids, ACTIVE_STATUSES) if count else {}
    placed = {s.id: _projected(_warmth(s.warmth_text), ahead.get(s.id)) for s in rows} if warm else {}
    return [
        ServerLoad(
            id=s.id,
            name=s.name,
            outstanding=outstanding.get(s.id, 0),
            queue_remaining=s.queue_remaining,
            weight=s.weight,
            online=effective_status(s.status, s.status_by, s.lease_holder, s.lease_expires, now)
            == ServerStatus.ONLINE,
            enabled=s.enabled,
            draining=s.draining,
            max_concurrent=s.max_concurrent,
            max_queued=s.max_queued,
            inventory=_inventory(s.classes_text, s.models_text),
            warmth=placed[s.id][0] if warm else None,
            loading=placed[s.id][1] if warm else 0.0,
        )
        for s in rows
    ]


@functools.lru_cache(maxsize=256)
def _inventory(classes_text: str | None, models_text: str | None) -> Inventory | None:
    classes = json.loads(classes_text) if classes_text else None
    files = json.loads(models_text) if models_text else None
    if not isinstance(classes, list) or not isinstance(files, dict):
        return None
    return inventory_from_json(classes, files)


def _last_placed(server_ids: list[int]) -> dict[int, Any]:
    """The needs of the job last bound to each server and not finished: the models it will
    hold when the next job starts there."""
    attempts = (
        Attempt.objects.filter(server_id__in=server_ids, job__status__in=ACTIVE_STATUSES)
        .order_by("-created_at")
        .values_list("server_id", "job__needs")[:200]
    )
    last: dict[int, Any] = {}
    for server_id, needs in attempts:
        last.setdefault(server_id, needs)
    return last


def _projected(warmth: Warmth | None, needs: Any) -> tuple[Warmth | None, float]:
    """A server's warmth once the job last placed there ran (its models loaded, for the next
    job), and the seconds of loading that job has ahead of it: its models that were not warm
    when it was placed (a job placed after it starts after that load, too)."""
    files = needs_from_json(needs).files() if isinstance(needs, dict) else []
    if not files:
        return warmth, 0.0
    now = warmth or Warmth()
    return now.after(files), now.load_cost(files)


@functools.lru_cache(maxsize=256)
def _warmth(text: str | None) -> Warmth | None:
    return warmth_from_json(json.loads(text)) if text else None


def acquire(
    tab_id,
    needs: Needs = NOTHING,
    loads: list[ServerLoad] | None = None,
    avoid: frozenset[int] = frozenset(),
    planned: Planned = UNPLANNED,
) -> tuple[Server, int | None]:
    """The tab's locked server, taking a lock through the balancer when it has none.

    Returns the server and, when a lock was taken now, the tab's new seq (for `lock.updated`).
    Raises NoServerAvailable when the tab has no lock and no server may take one now.
    """
    with transaction.atomic(savepoint=False):  # nested: the caller's transaction, whole
        exists, locked_id = sql.tab_server_for_update(tab_id)
        if not exists:
            raise Tab.DoesNotExist(f"no tab {tab_id}")
        if locked_id is not None:
            return _server(locked_id), None
        choice = pick_server(server_loads() if loads is None else loads, needs, avoid, planned)
        if choice is None:
            raise NoServerAvailable("No ComfyUI server can take this job right now.")
        # Race: two dispatches of the same tab at once. Only the one that finds the tab still
        # unlocked writes; the other re-reads and joins the winner's server.
        if not sql.lock_tab(tab_id, choice.id, timezone.now()):
            _, locked_id = sql.tab_server_for_update(tab_id)
            assert locked_id is not None  # the update found the tab locked already
            return _server(locked_id), None
        return _server(choice.id), bump_seq(tab_id)


def _server(server_id: int) -> Server:
    """The server a job goes to: its id, name and URL read, the rest deferred (a dispatch
    needs nothing else, and the node list and system stats are large)."""
    found = sql.server_address(server_id)
    if found is None:
        raise Server.DoesNotExist(f"no server {server_id}")
    return Server.from_db(Server.objects.db, ["id", "name", "url"], found)


def outstanding_on(server_id: int) -> int:
    return Job.objects.filter(server_id=server_id, status__in=ACTIVE_STATUSES).count()


def release_if_idle(tab_id) -> int | None:
    """Release the tab's lock if it has no active job; returns the new seq when released.

    Race: a job submitted while its sibling completes. The filter requires that no active job
    exists at the moment of the update, so a release can never strand a new pending job.
    """
    with transaction.atomic(savepoint=False):  # nested: the caller's transaction, whole
        return bump_seq(tab_id) if sql.release_if_idle(tab_id, ACTIVE_STATUSES) else None


def release_from(tab_id: Any, server_id: int) -> int | None:
    """Release the tab's lock on `server_id` if none of the tab's active jobs is on it (bound,
    queued or running); returns the new seq when released.

    Its pending jobs that are not bound stay pending and take a new lock when dispatched.
    Race: a sibling bound to the server at this moment. The filter requires, at the moment of
    the update, that no active job of the tab is on the server, so a job the server may have
    accepted always keeps the tab there.
    """
    with transaction.atomic(savepoint=False):  # nested: the caller's transaction, whole
        on_server = Job.objects.filter(tab=OuterRef("pk"), server_id=server_id, status__in=ACTIVE_STATUSES)
        tab = Tab.objects.filter(id=tab_id, server_id=server_id).exclude(Exists(on_server))
        released = tab.update(server=None, locked_at=None)
        return bump_seq(tab_id) if released else None
