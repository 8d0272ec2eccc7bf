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


def _current(
    orders: Sequence[tuple[str, ...]], step: list[int], left: Counter[str], server: int
) -> str | None:
    """The model `server` serves now: the first in its order that still has jobs left."""
    order = orders[server]
    while step[server] < len(order) and not left[order[step[server]]]:
        step[server] += 1
    return order[step[server]] if step[server] < len(order) else None


def _jobs_choose(
    jobs: list[tuple[float, str]], orders: Sequence[tuple[str, ...]], load_s: float, sample_s: float
) -> tuple[float, float] | None:
    """Each job, in arrival order, to the server serving its model that finishes it soonest."""
    left = Counter(model for _, model in jobs)
    free = [0.0] * len(orders)
    warm: list[str | None] = [None] * len(orders)
    step = [0] * len(orders)
    waits = []
    for arrival, model in jobs:
        serving = [s for s in range(len(orders)) if _current(orders, step, left, s) == model]
        if not serving:
            return None
        server = min(serving, key=lambda s: max(free[s], arrival) + (load_s if warm[s] != model else 0.0))
        free[server] = max(free[server], arrival) + sample_s + (load_s if warm[server] != model else 0.0)
        warm[server] = model
        left[model] -= 1
        waits.append(free[server] - arrival)
    return max(free), statistics.mean(waits)


def _servers_choose(
    jobs: list[tuple[float, str]], orders: Sequence[tuple[str, ...]], load_s: float, sample_s: float
) -> tuple[float, float] | None:
    """The server free soonest takes the oldest job left of the model it serves."""
    left = Counter(model for _, model in jobs)
    queue = {model: [a for a, m in jobs if m == model] for model in left}
    free = [0.0] * len(orders)
    warm: list[str | None] = [None] * len(orders)
    step = [0] * len(orders)
    waits: list[float] = []
    active = set(range(len(orders)))
    while len(waits) < len(jobs):
        active = {s for s in active if _current(orders, step, left, s)}
        if not active:
            return None
        server = min(active, key=lambda s: free[s])
        model = _current(orders, step, left, server)
        assert model is not None
        arrival = queue[model].pop(0)
        free[server] = max(free[server], arrival) + sample_s + (load_s if warm[server] != model else 0.0)
        warm[server] = model
        left[model] -= 1
        waits.append(free[server] - arrival)
    return max(free), statistics.mean(waits)
