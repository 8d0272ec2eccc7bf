"""A person's quotas and permissions (issue U), as plain functions over plain data.

Each group may set limits; a person in several groups gets the most generous of each (no
limit beats any limit; the union of allowed workflows). The GPU-time bounds apply to node
inputs wherever they are in the graph that would run (the workflow's parameters bound), so
the same check serves an admin-defined workflow and a whole graph sent by a ComfyUI client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

# Node inputs that cost GPU time, by the limit that bounds them.
STEP_INPUTS = ("steps",)
BATCH_INPUTS = ("batch_size",)
FRAME_INPUTS = ("length", "frames", "num_frames", "video_frames")


@dataclass(frozen=True)
class Limits:
    """None: no limit. `workflows`: the slugs allowed (None: every workflow)."""

    max_active: int | None = None
    jobs_per_day: int | None = None
    workflows: frozenset[str] | None = None
    raw_graphs: bool = True  # whole graphs through the ComfyUI endpoint (the most generous: any)
    allowed_nodes: frozenset[str] | None = None  # node classes a whole graph may use (None: any)
    denied_nodes: frozenset[str] = frozenset()  # ... may not use (the most generous: those all deny)
    max_steps: int | None = None
    max_pixels: int | None = None
    max_batch: int | None = None
    max_frames: int | None = None


UNLIMITED = Limits()


def most_generous(each: Iterable[Limits]) -> Limits | None:
    """The limits of a person in all these groups (None when there are none)."""
    each = list(each)
    if not each:
        return None
    merged: dict[str, Any] = {}
    for f in fields(Limits):
        values = [getattr(limits, f.name) for limits in each]
        if f.name == "denied_nodes":
            merged[f.name] = frozenset.intersection(*values)
        elif any(v is None for v in values):
            merged[f.name] = None
        elif f.name in ("workflows", "allowed_nodes"):
            merged[f.name] = frozenset().union(*values)
        else:
            merged[f.name] = max(values)
    return Limits(**merged)


@dataclass(frozen=True)
class Excess:
    """A bound a job goes over: which, where, and by how much."""

    limit: str  # "steps", "pixels", "batch", "frames"
    node: str
    value: int
    bound: int

    def message(self) -> str:
        what = {
            "steps": "sampling steps",
            "pixels": "width × height",
            "batch": "batch size",
            "frames": "video length (frames)",
        }[self.limit]
        return (
            f"Your group allows at most {self.bound:,} for {what}; node {self.node} asks for {self.value:,}."
        )


def node_lines(text: str) -> frozenset[str]:
    """Node class names from an admin field: one per line (commas work too)."""
    return frozenset(name.strip() for line in text.splitlines() for name in line.split(",") if name.strip())


def forbidden_nodes(graph: Mapping[str, Any], limits: Limits) -> list[str]:
    """The node classes of a whole graph its sender's groups do not allow."""
    classes = {str(n.get("class_type")) for n in graph.values() if isinstance(n, Mapping)}
    refused = classes & limits.denied_nodes
    if limits.allowed_nodes is not None:
        refused |= classes - limits.allowed_nodes
    return sorted(refused)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def over_bounds(graph: Mapping[str, Any], limits: Limits) -> Excess | None:
    """The first GPU-time bound the graph goes over (literal inputs; a linked input is
    computed on the server and bounded where its source is), or None."""
    for node_id, node in graph.items():
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        if not isinstance(inputs, Mapping):
            continue
        checks = [
            ("steps", limits.max_steps, [_int(inputs.get(name)) for name in STEP_INPUTS]),
            ("batch", limits.max_batch, [_int(inputs.get(name)) for name in BATCH_INPUTS]),
            ("frames", limits.max_frames, [_int(inputs.get(name)) for name in FRAME_INPUTS]),
        ]
        width, height = _int(inputs.get("width")), _int(inputs.get("height"))
        if width is not None and height is not None:
            checks.append(("pixels", limits.max_pixels, [width * height]))
        for limit, bound, values in checks:
            for value in values:
                if bound is not None and value is not None and value > bound:
                    return Excess(limit, str(node_id), value, bound)
    return None


def bind_values(
    graph: Mapping[str, Any], specs: Iterable[Mapping[str, Any]], values: Mapping[str, Any]
) -> dict[str, Any]:
    """The graph with the parameters' values bound (uploads left as they are): what the
    bounds are checked against. A shallow copy per node touched."""
    bound = dict(graph)
    for spec in specs:
        node_id, name = str(spec.get("node")), str(spec.get("name"))
        node = bound.get(node_id)
        if not isinstance(node, Mapping) or name not in values:
            continue
        inputs = dict(node.get("inputs") or {})
        inputs[str(spec.get("input"))] = values[name]
        bound[node_id] = {**node, "inputs": inputs}
    return bound
