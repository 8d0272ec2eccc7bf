"""Raw-graph jobs: whole ComfyUI graphs sent by ComfyUI clients (jobs.comfyapi), as plain rules.

Such a client sends a graph, not one of the admin's workflows. Before it is stored the graph
is checked against the pool (jobs.pool.graph_check over jobs.pool.node_defs): every class,
type, range and model must fit, every upload input must name one of the caller's uploads,
and some enabled server must be able to run all of it (jobs.pool.placement). Accepted, it is
a job like any other: its tab's lock, the fair order, failover and the gallery apply.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction

from jobs.core import locks, quotas
from jobs.core.changes import job_event
from jobs.core.events import Event
from jobs.core.models import Job, Server, Upload, model_input_keys
from jobs.core.tabs import claim_tab
from jobs.pool import graph_check, node_defs, placement
from jobs.pool.inventory import combo_choices, is_upload
from jobs.pool.requirements import of_job, of_workflow

# extra_data keys the relay sets itself (its own socket's client id).
RELAY_KEYS = ("client_id",)


class GraphRefused(Exception):
    """The graph does not fit the pool; `body` is ComfyUI's 400 body saying why."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body.get("error", {}).get("message", "refused"))
        self.body = body


def pool_definitions() -> dict[str, Any]:
    """The enabled servers' node definitions as one server's, oldest version first."""
    rows = Server.objects.filter(enabled=True).exclude(object_info=None).values_list("version", "object_info")
    ordered = sorted(rows, key=lambda row: _version_key(row[0]))
    return node_defs.union(info for _, info in ordered if isinstance(info, dict))


def _version_key(version: str) -> tuple[int, ...]:
    parts = []
    for part in str(version or "").split("."):
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts) or (0,)


def upload_names(owner: str) -> dict[str, uuid.UUID]:
    """The names the owner's uploads go by in graphs ("subfolder/file"), oldest first."""
    rows = (
        Upload.objects.filter(session_key=owner)
        .exclude(input_name="")
        .order_by("created_at")
        .values_list("input_name", "id")
    )
    return dict(rows)


def _bindings(graph: dict[str, Any], defs: dict[str, Any], uploads: dict[str, uuid.UUID]) -> dict[str, str]:
    """ "node.input" → upload id, for every upload input of the (already checked) graph."""
    found = {}
    for node_id, node in graph.items():
        entry = defs.get(node["class_type"], {})
        sections = entry.get("input") if isinstance(entry.get("input"), dict) else {}
        for name, value in (node.get("inputs") or {}).items():
            spec = (sections.get("required") or {}).get(name) or (sections.get("optional") or {}).get(name)
            combo = combo_choices(spec)
            if combo is not None and is_upload(combo[1]) and isinstance(value, str):
                found[f"{node_id}.{name}"] = str(uploads[value.removesuffix(" [input]")])
    return found


def job_id_for(prompt_id: Any) -> uuid.UUID:
    """The client's prompt_id as the job id when it is a canonical UUID not used before;
    otherwise a new one, which the answer gives back (as ComfyUI answers with its own)."""
    if isinstance(prompt_id, str):
        try:
            wanted = uuid.UUID(prompt_id)
        except ValueError:
            wanted = None
        if wanted is not None and str(wanted) == prompt_id and not Job.objects.filter(id=wanted).exists():
            return wanted
    return uuid.uuid4()


def submit_graph(
    owner: str,
    tab_id: uuid.UUID,
    graph: Any,
    *,
    prompt_id: Any = None,
    client_id: str = "",
    extra_data: Any = None,
    source: str = "",
) -> tuple[Job, list[Event]]:
    """Check a whole graph against the pool and store it as a pending job of the tab.

    Raises GraphRefused (ComfyUI's 400 body) when it does not fit, ServiceError for the
    limits of the tab and the owner. `extra_data` (API keys among it) goes to the server
    with the prompt and is erased when the job ends (jobs.core.attempts.finish).
    """
    defs = pool_definitions()
    uploads = upload_names(owner)
    body, _ = graph_check.check(graph, defs, uploads.keys())
    if body is not None:
        raise GraphRefused(body)
    requirements = of_workflow(graph, [], model_input_keys())
    needs = of_job(requirements, {})
    verdict = placement.judge(locks.server_loads(for_update=False), needs)
    if verdict.refusal is not None:
        error = {"type": "no_capable_server", "message": verdict.refusal, "details": "", "extra_info": {}}
        raise GraphRefused(graph_check.refusal(error))
    secrets = (
        {k: v for k, v in extra_data.items() if k not in RELAY_KEYS} if isinstance(extra_data, dict) else {}
    )
    fields = {
        "session_key": owner,
        "workflow": None,
        "graph": graph,
        "params": _bindings(graph, defs, uploads),
        "needs": needs.to_json(),
        "source": source[:200],
        "client_id": client_id[:200],
        "secrets": secrets or None,
    }
    job_id = job_id_for(prompt_id)
    with transaction.atomic():
        tab = claim_tab(tab_id, owner)
        quotas.check_submission(owner, tab, graph=graph)
        try:
            with transaction.atomic():
                job = Job.objects.create(id=job_id, tab_id=tab, **fields)
        except IntegrityError:  # the same prompt_id from two requests at once: mint one
            job = Job.objects.create(id=uuid.uuid4(), tab_id=tab, **fields)
        event = job_event(job)
    return job, [event]
