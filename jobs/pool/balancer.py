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


class _Unplanned:
    def __repr__(self) -> str:
        return "UNPLANNED"


UNPLANNED = _Unplanned()
Planned = int | None | _Unplanned  # a server id, None (wait), or UNPLANNED


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
    loading: float = 0.0  # seconds of model loads queued there (its last placed job's)

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
        ahead = expected_start(self.warmth, self.jobs_ahead + reserved, self.weight, needs.files())
        return ahead + self.loading


def may_take_new_lock(server: ServerLoad, needs: Needs = NOTHING) -> bool:
    """A tab with no lock may be bound here: usable, not draining, below its limits."""
    if not (server.enabled and server.online) or server.draining:
        return False
    if server.max_concurrent is not None and server.outstanding >= server.max_concurrent:
        return False
    return server.fits(needs)


def pick_server(
    candidates: list[ServerLoad],
    needs: Needs = NOTHING,
    avoid: frozenset[int] = frozenset(),
    planned: Planned = UNPLANNED,
) -> ServerLoad | None:
    """The server for a tab with no lock, or None when no server may take it now.

    Only servers with room in their own queue qualify: when all are full, the job waits in
    ComfyWeb, where the fair order decides who goes next. Then the lowest score; then the
    name, for stability. `avoid`: servers whose next free slot an earlier job waits for.
    `planned`: the server warmth chose for this job in this pass (jobs.pool.schedule), or
    None when it chose to let it wait; UNPLANNED when warmth does not decide.
    """
    if planned is not UNPLANNED:
        chosen = next((s for s in candidates if s.id == planned), None)
        if (
            chosen is None
            or chosen.id in avoid
            or not chosen.has_room
            or not may_take_new_lock(chosen, needs)
        ):
            return None
        return chosen
    usable = [s for s in candidates if s.id not in avoid and s.has_room and may_take_new_lock(s, needs)]
    if not usable:
        return None
    return min(usable, key=lambda s: (s.score, s.name))
