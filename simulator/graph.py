"""Execution order and cache keys, ported from ComfyUI 0.3.64 (comfy_execution/graph.py, caching.py).

Order: outputs are added depth first, cached inputs are not added at all, and among the
ready nodes an output node goes first, then a node that unblocks an output, then one two
steps away (ux_friendly_pick_node). That gives trace 03's order 11, 14, 12, 13.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from simulator.nodes import NODES


def is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int | float)
    )


class ExecutionList:
    """Topological staging of the nodes needed for some outputs."""

    def __init__(self, prompt: dict[str, Any], is_cached: Callable[[str], bool]) -> None:
        self.prompt = prompt
        self.is_cached = is_cached
        self.pending: dict[str, bool] = {}
        self.block_count: dict[str, int] = {}
        self.blocking: dict[str, dict[str, dict[int, bool]]] = {}
        self.staged: str | None = None

    def add_node(self, unique_id: str) -> None:
        node_ids = [unique_id]
        links: list[tuple[str, int, str]] = []
        while node_ids:
            node_id = node_ids.pop()
            if node_id in self.pending:
                continue
            self.pending[node_id] = True
            self.block_count[node_id] = 0
            self.blocking[node_id] = {}
            for value in self.prompt[node_id]["inputs"].values():
                if is_link(value):
                    from_id, socket = value
                    if not self.is_cached(from_id):
                        node_ids.append(from_id)
                    links.append((from_id, socket, node_id))
        for from_id, socket, to_id in links:
            if not self.is_cached(from_id):
                self.add_node(from_id)
                if to_id not in self.blocking[from_id]:
                    self.blocking[from_id][to_id] = {}
                    self.block_count[to_id] += 1
                self.blocking[from_id][to_id][socket] = True

    def is_empty(self) -> bool:
        return not self.pending

    def stage(self) -> str | None:
        """The next node to run, or None when the graph has a cycle."""
        ready = [n for n in self.pending if self.block_count[n] == 0]
        if not ready:
            return None
        self.staged = self._pick(ready)
        return self.staged

    def complete(self) -> None:
        assert self.staged is not None
        node_id, self.staged = self.staged, None
        del self.pending[node_id]
        for blocked in self.blocking.pop(node_id, {}):
            self.block_count[blocked] -= 1
        del self.block_count[node_id]

    def _is_output(self, node_id: str) -> bool:
        return NODES[self.prompt[node_id]["class_type"]].OUTPUT_NODE

    def _pick(self, ready: list[str]) -> str:
        for node_id in ready:
            if self._is_output(node_id):
                return node_id
        for node_id in ready:
            if any(self._is_output(b) for b in self.blocking[node_id]):
                return node_id
        for node_id in ready:
            for b in self.blocking[node_id]:
                if any(self._is_output(b1) for b1 in self.blocking[b]):
                    return node_id
        return ready[0]


def signatures(prompt: dict[str, Any], is_changed: Callable[[str], Any]) -> dict[str, str]:
    """A cache key per node: class, IS_CHANGED value and inputs, with links replaced by the
    linked node's key (a Merkle form of CacheKeySetInputSignature). Node ids are not part of
    it, so an identical sub-graph in another prompt hits the cache (trace 03 node 10)."""
    keys: dict[str, str] = {}

    def key(node_id: str, visiting: frozenset[str]) -> str:
        if node_id in keys:
            return keys[node_id]
        if node_id not in prompt or node_id in visiting:
            return f"nan:{id(object())}"
        node = prompt[node_id]
        parts: list[Any] = [node["class_type"], repr(is_changed(node_id))]
        for name in sorted(node["inputs"]):
            value = node["inputs"][name]
            if is_link(value):
                parts.append([name, "ANCESTOR", key(value[0], visiting | {node_id}), value[1]])
            else:
                parts.append([name, value])
        digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=repr).encode()).hexdigest()
        keys[node_id] = digest
        return digest

    for node_id in prompt:
        key(node_id, frozenset())
    return keys
