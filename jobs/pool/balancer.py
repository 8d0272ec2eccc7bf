"""The pool policy: which servers may take work, and which one a tab with no lock gets.

Plain functions over a snapshot of the pool, so every rule is tested without a database:
capabilities (every node class the workflow uses), draining, maximum concurrency, room in
the server's own queue, and the score that weighs outstanding work, queue length and weight.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerLoad:
    """What the policy knows of one server at the moment of choosing."""

    id: int
    name: str
    outstanding: int  # ComfyWeb jobs placed on it and not finished
    queue_remaining: int = 0  # the server's own queue length, from its `status` frames
    weight: float = 1.0
    online: bool = True
    enabled: bool = True
    draining: bool = False
    max_concurrent: int | None = None
    max_queued: int | None = None
    node_classes: frozenset[str] | None = None  # None: not known yet

    def has_nodes(self, required: Iterable[str]) -> bool:
        return self.node_classes is None or set(required) <= self.node_classes

    def missing(self, required: Iterable[str]) -> set[str]:
        return set() if self.node_classes is None else set(required) - self.node_classes

    @property
    def has_room(self) -> bool:
        """Room in the server's own queue for one more ComfyWeb prompt (running included)."""
        return self.max_queued is None or self.outstanding < self.max_queued

    @property
    def score(self) -> float:
        """Lower is better: work ahead of a new job, per unit of capacity.

        The server's queue counts prompts of other clients too; ours are already in
        `outstanding`, so only the foreign part is added.
        """
        foreign = max(self.queue_remaining - self.outstanding, 0)
        return (self.outstanding + foreign) / max(self.weight, 0.01)


def may_take_new_lock(server: ServerLoad, required: Iterable[str] = ()) -> bool:
    """A tab with no lock may be bound here: usable, not draining, below its limits."""
    if not (server.enabled and server.online) or server.draining:
        return False
    if server.max_concurrent is not None and server.outstanding >= server.max_concurrent:
        return False
    return server.has_nodes(required)


def pick_server(candidates: list[ServerLoad], required: Iterable[str] = ()) -> ServerLoad | None:
    """The server for a tab with no lock, or None when no server may take it now.

    Only servers with room in their own queue qualify: when all are full, the job waits in
    ComfyWeb, where the fair order decides who goes next. Then the lowest score; then the
    name, for stability.
    """
    required = tuple(required)
    usable = [s for s in candidates if s.has_room and may_take_new_lock(s, required)]
    if not usable:
        return None
    return min(usable, key=lambda s: (s.score, s.name))


def capable_anywhere(candidates: list[ServerLoad], required: Iterable[str]) -> set[str]:
    """Node classes that no enabled server has (empty when some server could run it, or
    when a server's classes are not known yet)."""
    enabled = [s for s in candidates if s.enabled]
    if not enabled:
        return set()
    missing = [s.missing(required) for s in enabled]
    return set() if any(not m for m in missing) else set.intersection(*missing)
