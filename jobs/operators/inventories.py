"""What operators read of the pool's models: a server's model files grouped by kind, and
where a workflow can run.

The inventories themselves are read by the relay (jobs.pool.inventory, stored on Server);
placement is jobs.pool.placement's. Here they are only put into words for the admin pages,
the dashboard and `manage.py import_workflow`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jobs.core import locks
from jobs.core.models import Workflow
from jobs.operators.importer_rules import KIND_ORDER, model_kind
from jobs.pool.balancer import ServerLoad
from jobs.pool.placement import where_it_runs
from jobs.pool.requirements import Needs, of_job


@dataclass(frozen=True)
class ModelGroup:
    """Files of one kind listed alike by one or more loader inputs: "Checkpoints
    (CheckpointLoaderSimple.ckpt_name, CheckpointLoader.ckpt_name): a, b"."""

    label: str
    keys: tuple[str, ...]
    files: tuple[str, ...]

    def __str__(self) -> str:
        listed = ", ".join(self.files) if self.files else "none"
        return f"{self.label} ({', '.join(self.keys)}): {listed}"


def _listed(model_files: Any) -> dict[str, list[str]]:
    if not isinstance(model_files, Mapping):
        return {}
    return {str(k): sorted(str(f) for f in v) for k, v in model_files.items() if isinstance(v, list)}


def model_groups(model_files: Any) -> list[ModelGroup]:
    """A stored inventory (Server.model_files) by kind; inputs of one kind that list the same
    files share a group (a real server lists its checkpoints under five loaders)."""
    grouped: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for key, files in sorted(_listed(model_files).items()):
        grouped.setdefault((model_kind(key)[1], tuple(files)), []).append(key)
    groups = [ModelGroup(label, tuple(keys), files) for (label, files), keys in grouped.items()]
    return sorted(
        groups, key=lambda g: (not g.files, KIND_ORDER.get(g.label, len(KIND_ORDER)), g.label, g.keys)
    )


def model_file_names(model_files: Any) -> list[str]:
    """Every file a stored inventory lists, once, sorted; [] when never read."""
    return sorted({f for files in _listed(model_files).values() for f in files})


def model_count(model_files: Any) -> int | None:
    """How many distinct model files a server lists; None when its inventory was never read."""
    return len(model_file_names(model_files)) if isinstance(model_files, Mapping) else None


# --------------------------------------------------------------------------- where it runs


def default_needs(workflow: Workflow) -> Needs:
    """What a job of this workflow with every parameter at its default needs."""
    defaults = {str(p.get("name")): p.get("default") for p in workflow.params or [] if isinstance(p, dict)}
    return of_job(workflow.requirements or {}, defaults)


def runs_on(needs: Needs, loads: Iterable[ServerLoad] | None = None) -> str:
    """ "runs on gpu-1, gpu-3; gpu-2 lacks flux1-dev.safetensors", or "runs on no server: …"."""
    able, lacking = where_it_runs(locks.server_loads(for_update=False) if loads is None else loads, needs)
    if not able and not lacking:
        return "runs on no server: the pool has no enabled server"
    words = f"runs on {', '.join(able)}" if able else "runs on no server"
    lacks = [f"{name} lacks {', '.join(items)}" for name, items in lacking.items()]
    return "; ".join([words, *lacks]) if able else f"{words}: {'; '.join(lacks)}"


def workflow_runs_on(workflow: Workflow, loads: Iterable[ServerLoad] | None = None) -> str:
    return runs_on(default_needs(workflow), loads)
