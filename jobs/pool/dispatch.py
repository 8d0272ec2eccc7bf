"""The order in which pending jobs get a server when the pool is busy (fair sharing).

Servers hold only a few prompts each (Server.max_queued); the rest waits in ComfyWeb. When a
server frees up, the next job is chosen across sessions in turn, the session with the fewest
jobs on servers first, then oldest first, so that one person's ten jobs never make everyone
else wait behind all ten (the complaint in mcmonkeyprojects/SwarmUI issues 1192 and 1551).
"""

from __future__ import annotations

import heapq
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Waiting:
    job_id: uuid.UUID
    session_key: str
    created_at: datetime
    tab_server: int | None = None  # the server the job's tab is locked to, if any
    needs: Any = None  # its Needs as stored (JSON), for warm placement (jobs.pool.schedule)
    tab_id: uuid.UUID | None = None  # where its queue position is told


def fair_order(waiting: list[Waiting], placed: dict[str, int] | None = None) -> list[Waiting]:
    """Sessions take turns, the one with the fewest jobs on servers first (ties: the oldest
    waiting job); within a session, oldest first. `placed` counts each session's jobs that
    are already on a server."""
    placed = dict(placed or {})
    queues: dict[str, list[Waiting]] = {}
    for job in sorted(waiting, key=lambda w: (w.created_at, str(w.job_id))):
        queues.setdefault(job.session_key, []).append(job)
    heap = [(placed.get(s, 0), jobs[0].created_at, s) for s, jobs in queues.items()]
    heapq.heapify(heap)
    order: list[Waiting] = []
    while heap:
        count, _, session = heapq.heappop(heap)
        jobs = queues[session]
        order.append(jobs.pop(0))
        if jobs:
            heapq.heappush(heap, (count + 1, jobs[0].created_at, session))
    return order


def positions(order: list[Waiting]) -> dict[uuid.UUID, int]:
    """Each waiting job's place in ComfyWeb's queue (0 = next)."""
    return {job.job_id: index for index, job in enumerate(order)}


class Reservations:
    """Capacity that jobs earlier in the fair order are waiting for in this pass.

    A job whose tab is locked to a full server reserves that server's next free slot; a job
    with no lock that found no room reserves the next slot of every server that could run it
    (all of them, for a job any server could run). Later jobs may not take them. A job that
    waits for something else (a server with its model to come online, its tab's other jobs
    to end) reserves nothing.
    """

    def __init__(self) -> None:
        self.servers: set[int] = set()
        self.everything = False

    def allows(self, job: Waiting) -> bool:
        if self.everything:
            return False
        return job.tab_server is None or job.tab_server not in self.servers

    def waited(self, job: Waiting, servers: frozenset[int] | None) -> None:
        """`servers`: what the job waits for; None for every server."""
        if servers is None:
            self.everything = True
        else:
            self.servers |= servers

    @property
    def avoid(self) -> frozenset[int]:
        return frozenset(self.servers)
