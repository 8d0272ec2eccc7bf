"""What a workflow needs of a server, recorded once when it is saved, and what one job needs.

Placement reads these, never the graph: submission and dispatch stay cheap however large the
graph. A model input bound to a parameter is left out of the workflow's fixed needs and noted
instead, so that the value a user chose joins that job's needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jobs.pool.inventory import is_model_file, is_model_input, model_key


@dataclass(frozen=True)
class Needs:
    """One job's needs: node classes, and model files as ("Class.input", file) pairs."""

    nodes: frozenset[str] = frozenset()
    models: frozenset[tuple[str, str]] = frozenset()

    def files(self) -> list[str]:
        return sorted({file for _, file in self.models})

    def to_json(self) -> dict[str, Any]:
        return {"nodes": sorted(self.nodes), "models": sorted([key, file] for key, file in self.models)}


NOTHING = Needs()


def needs_from_json(data: Mapping[str, Any] | None) -> Needs:
    data = data or {}
    models = data.get("models") or []
    return Needs(
        frozenset(str(n) for n in data.get("nodes") or []),
        frozenset((str(m[0]), str(m[1])) for m in models if isinstance(m, list | tuple) and len(m) == 2),
    )


def of_workflow(
    graph: Mapping[str, Any], params: Iterable[Mapping[str, Any]], known_keys: Iterable[str] = ()
) -> dict[str, Any]:
    """The stored requirements of a workflow: {"nodes", "models", "param_models"}.

    `models` lists {"node", "input", "key", "file"} for every model input with a fixed value;
    `param_models` maps a parameter bound to a model input to that input's key.
    `known_keys` are model inputs some server's inventory lists beyond the known loaders.
    """
    keys = set(known_keys)
    bound = {(str(p.get("node")), str(p.get("input"))): str(p.get("name")) for p in params}
    nodes: set[str] = set()
    models: list[dict[str, str]] = []
    param_models: dict[str, str] = {}
    for node_id, node in graph.items():
        if not isinstance(node, Mapping):
            continue
        if not isinstance(node.get("class_type"), str):
            continue  # not a node ComfyUI could run; the importer refuses such a graph
        class_type = node["class_type"]
        nodes.add(class_type)
        inputs = node.get("inputs")
        for name, value in (inputs if isinstance(inputs, Mapping) else {}).items():
            if not is_model_input(class_type, str(name), keys):
                continue
            key = model_key(class_type, str(name))
            param = bound.get((str(node_id), str(name)))
            if param is not None:
                param_models[param] = key
            elif isinstance(value, str) and is_model_file(value):
                models.append({"node": str(node_id), "input": str(name), "key": key, "file": value})
    return {"nodes": sorted(nodes), "models": models, "param_models": param_models}


def of_job(requirements: Mapping[str, Any], values: Mapping[str, Any]) -> Needs:
    """A job's needs: the workflow's fixed ones plus the model files its parameters chose."""
    models = {(str(m["key"]), str(m["file"])) for m in requirements.get("models") or []}
    for param, key in (requirements.get("param_models") or {}).items():
        value = values.get(param)
        if isinstance(value, str) and is_model_file(value):
            models.add((str(key), value))
    return Needs(frozenset(requirements.get("nodes") or []), frozenset(models))


def graph_nodes(graph: Mapping[str, Any]) -> frozenset[str]:
    """Node classes of a graph, for a workflow saved before requirements were recorded."""
    return frozenset(str(node.get("class_type")) for node in graph.values() if isinstance(node, Mapping))
