"""The pool policy: which servers may take work, and which one a tab with no lock gets.

Plain functions over a snapshot of the pool, so every rule is tested without a database:
capabilities (every node class and model file the job needs), draining, maximum concurrency, room in
the server's own queue, and the score that weighs outstanding work, queue length and weight.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobs.pool.inventory import Inventory
from jobs.pool.requirements import NOTHING, Needs
from jobs.pool.warmth import Warmth, expected_start


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
    inventory: Inventory | None = None  # None: its /object_info was never read
    warmth: Warmth | None = None  # its warm models and learned times (jobs.pool.warmth)

    def lacking(self, needs: Needs) -> list[str]:
        """What of `needs` its inventory lacks: node classes, then model files (names a
        person recognises). Nothing when the inventory is not known."""
        if self.inventory is None:
            return []
        nodes = sorted(needs.nodes - self.inventory.node_classes)
        files = sorted({file for key, file in needs.models if not self.inventory.has_model(key, file)})
        return nodes + files

    def fits(self, needs: Needs) -> bool:
        """It can run the job: its inventory has everything. A server whose inventory is not
        known takes jobs that need no model file (as before inventories), nothing else."""
        if self.inventory is None:
            return not needs.models
        return not self.lacking(needs)

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
        return self.jobs_ahead / max(self.weight, 0.01)

    @property
    def jobs_ahead(self) -> int:
        foreign = max(self.queue_remaining - self.outstanding, 0)
        return self.outstanding + foreign

    def expected_start(self, needs: Needs, reserved: int = 0) -> float:
        """Seconds until a new job would have its models loaded here (jobs.pool.warmth), with
        `reserved` more jobs ahead of it (earlier jobs of the fair order waiting for it)."""
        return expected_start(self.warmth, self.jobs_ahead + reserved, self.weight, needs.files())


def may_take_new_lock(server: ServerLoad, needs: Needs = NOTHING) -> bool:
    """A tab with no lock may be bound here: usable, not draining, below its limits."""
    if not (server.enabled and server.online) or server.draining:
        return False
    if server.max_concurrent is not None and server.outstanding >= server.max_concurrent:
        return False
    return server.fits(needs)


def pick_server(
    candidates: list[ServerLoad], needs: Needs = NOTHING, avoid: frozenset[int] = frozenset()
) -> ServerLoad | None:
    """The server for a tab with no lock, or None when no server may take it now.

    Only servers with room in their own queue qualify: when all are full, the job waits in
    ComfyWeb, where the fair order decides who goes next. Then the lowest score; then the
    name, for stability. `avoid`: servers whose next free slot an earlier job waits for.
    """
    if warm_placement(candidates, needs):
        best = awaited(candidates, needs, avoid)
        return best if best is not None and best.has_room and best.id not in avoid else None
    usable = [s for s in candidates if s.id not in avoid and s.has_room and may_take_new_lock(s, needs)]
    if not usable:
        return None
    return min(usable, key=lambda s: (s.score, s.name))


def warm_placement(candidates: list[ServerLoad], needs: Needs) -> bool:
    """Whether warmth decides: a job that needs model files, in a pool where some server's
    warmth is known (else, and with COMFYWEB_WARM_PLACEMENT off, the plain score: the
    least outstanding work among capable servers)."""
    return bool(needs.models) and any(s.warmth is not None for s in candidates)


def awaited(
    candidates: list[ServerLoad], needs: Needs, avoid: frozenset[int] = frozenset()
) -> ServerLoad | None:
    """The server a job that needs model files is best placed on, full or not: the one where
    its models would be loaded soonest, its queue and its loads counted. When that server is
    full the job waits for it (pick_server gives None) rather than load its models where
    they are cold: jobs that need the same model gather where it is warm. A server in `avoid`
    counts one more job ahead (an earlier job waits for its next slot)."""
    able = [s for s in candidates if may_take_new_lock(s, needs)]
    if not able:
        return None
    return min(able, key=lambda s: (s.expected_start(needs, int(s.id in avoid)), s.score, s.name))
