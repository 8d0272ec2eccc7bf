"""A clairvoyant reference for the pool part: the best schedule a search finds knowing every
job and its arrival in advance.

The lower bound (bench/pool.lower_bound) is what no placement can beat; this is what one
placement does reach, so the policy's result has a ceiling on both sides. The search tries,
for each server, every order of the models it holds (one model, or both one after the other,
each loaded once), and gives each job, in arrival order, to whichever server that plans it
frees soonest (or each server, when free, taking the oldest job of its model; the better of
the two). It is a schedule found, not proven optimal. The bench compares warmth-blind
placement with it too: a policy can be no more than that many times faster than blind.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Sequence

Plan = list[tuple[float, int, str]]


def clairvoyant(
    plan: Plan, holds: Sequence[Sequence[str]], load_s: float, sample_s: float
) -> dict[str, float]:
    """The best (workload time, mean time to result) found over every server's model order."""
    jobs = sorted((arrival, model) for arrival, _, model in plan)
    orders = [_orders(held) for held in holds]
    best: tuple[float, float] | None = None
    for choice in itertools.product(*orders):
        found = _run(jobs, choice, load_s, sample_s)
        if found is not None and (best is None or found < best):
            best = found
    if best is None:
        raise ValueError("no server order serves every job")
    return {"workload_s": round(best[0], 2), "mean_result_s": round(best[1], 2)}


def _orders(held: Sequence[str]) -> list[tuple[str, ...]]:
    """One model, or every model one after the other, in each order."""
    return [(model,) for model in held] + list(itertools.permutations(held))


def _run(
    jobs: list[tuple[float, str]], orders: Sequence[tuple[str, ...]], load_s: float, sample_s: float
) -> tuple[float, float] | None:
    """The better of two ways to follow the servers' model orders: jobs choosing servers, or
    servers choosing jobs."""
    found = [
        f
        for f in (
            _jobs_choose(jobs, orders, load_s, sample_s),
            _servers_choose(jobs, orders, load_s, sample_s),
        )
        if f
    ]
    return min(found) if found else None


class _Pool:
    """The servers following their model orders: when each is free, what it has warm, where
    it is in its order, and the jobs left and served."""

    def __init__(
        self, jobs: list[tuple[float, str]], orders: Sequence[tuple[str, ...]], load_s: float, sample_s: float
    ):
        self.orders, self.load_s, self.sample_s = orders, load_s, sample_s
        self.left = Counter(model for _, model in jobs)
        self.free = [0.0] * len(orders)
        self.warm: list[str | None] = [None] * len(orders)
        self.step = [0] * len(orders)
        self.waits: list[float] = []

    def current(self, server: int) -> str | None:
        """The model `server` serves now: the first in its order that still has jobs left."""
        order = self.orders[server]
        while self.step[server] < len(order) and not self.left[order[self.step[server]]]:
            self.step[server] += 1
        return order[self.step[server]] if self.step[server] < len(order) else None

    def done_at(self, server: int, model: str, arrival: float) -> float:
        """When `server` would finish a job of `model` that arrived at `arrival`."""
        load = self.load_s if self.warm[server] != model else 0.0
        return max(self.free[server], arrival) + self.sample_s + load

    def serve(self, server: int, model: str, arrival: float) -> None:
        self.free[server] = self.done_at(server, model, arrival)
        self.warm[server] = model
        self.left[model] -= 1
        self.waits.append(self.free[server] - arrival)

    def result(self) -> tuple[float, float]:
        return max(self.free), statistics.mean(self.waits)


def _jobs_choose(
    jobs: list[tuple[float, str]], orders: Sequence[tuple[str, ...]], load_s: float, sample_s: float
) -> tuple[float, float] | None:
    """Each job, in arrival order, to the server serving its model that finishes it soonest."""
    pool = _Pool(jobs, orders, load_s, sample_s)
    for arrival, model in jobs:
        serving = [s for s in range(len(orders)) if pool.current(s) == model]
        if not serving:
            return None
        pool.serve(min(serving, key=lambda s: pool.done_at(s, model, arrival)), model, arrival)
    return pool.result()


def _servers_choose(
    jobs: list[tuple[float, str]], orders: Sequence[tuple[str, ...]], load_s: float, sample_s: float
) -> tuple[float, float] | None:
    """The server free soonest takes the oldest job left of the model it serves."""
    pool = _Pool(jobs, orders, load_s, sample_s)
    queue = {model: [a for a, m in jobs if m == model] for model in pool.left}
    active = set(range(len(orders)))
    while len(pool.waits) < len(jobs):
        active = {s for s in active if pool.current(s)}
        if not active:
            return None
        server = min(active, key=lambda s: pool.free[s])
        model = pool.current(server)
        assert model is not None
        pool.serve(server, model, queue[model].pop(0))
    return pool.result()
