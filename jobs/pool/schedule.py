"""Which waiting jobs that need model files go to which server now, weighing warm models
against queue length for the whole queue at once.

Why not a choice per job (the soonest start for this one job): whether a job should wait for
the server where its checkpoint is warm or have it loaded elsewhere depends on the jobs
behind it. Twenty jobs for one checkpoint warm on one server are worth a second server's
load; one job is not. A choice per job either spreads every model over every server (each
loads everything) or piles a model on its one warm server while the others idle.

So each pass hands out the pool's free slots (a server's room in its own queue; DEPTH when
it sets no limit), one at a time, to the server that would be free soonest, which takes the
work that pays most. A server "serves" a model set when it will have those files loaded
once its queue ran (its warmth projected past the jobs placed there), and the backlog of a
set drains in the time its waiting jobs take on the other servers serving it (endless when
none does):

- A server keeps serving its warm set while that set has waiting jobs, unless another set's
  drain time exceeds its own set's drain time without it by more than SWITCH_FACTOR loads:
  then it switches. The margin keeps a server from switching back and forth.
- A server with nothing warm to serve takes the set that drains slowest (oldest first on a
  tie, so at the start, with nothing warm anywhere, the fair order decides).
- A server loads a set, or takes a job of its warm set while another server serving the set
  would be free sooner, only if the others would not get through the set's backlog before
  it has loaded and run the job: a server with room in its queue does not take the job a
  full one finishes sooner. A server's free time counts the load its last placed job has
  ahead of it (ServerLoad.loading).
- Fairness: within a set, jobs go in the fair order (jobs.pool.dispatch); and a set no
  server serves whose oldest job has waited PATIENCE times its load is taken up even by a
  server that alone serves its own set, so no session's model starves.

The fair order across sessions stays what it was: it orders the jobs of each set and breaks
ties; warmth decides only which set a free slot serves. Jobs whose tab holds a lock run where
the lock is (their server's projection counts them); jobs no usable server can run are left
out, for placement to judge. Plain functions over plain data, no Django.
"""

from __future__ import annotations

import heapq
import math
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from jobs.pool.balancer import ServerLoad
from jobs.pool.requirements import NOTHING, Needs
from jobs.pool.warmth import DEFAULT_JOB_SECONDS, Warmth

# How many waiting jobs one pass looks at: far more than the pool's free slots, few enough
# that a pass stays cheap when thousands wait (the rest move up as the first ones leave).
WINDOW = 256
# A server's depth when it sets no max_queued: with warmth deciding, prompts are handed out
# as servers need them, not all at once (a prompt in ComfyUI's queue can no longer move).
DEPTH = 2
# A switch to another model set must gain this many loads' time (hysteresis).
SWITCH_FACTOR = 2.0
# A set nobody serves whose oldest job waited this many times its load is taken up even by a
# server that alone serves its own set.
PATIENCE = 3.0

Key = tuple[str, ...]  # a job's model files: the set that must be loaded for it


@dataclass(frozen=True)
class Queued:
    """A waiting job as the plan sees it."""

    job_id: uuid.UUID
    needs: Needs
    locked: int | None = None  # the server its tab is locked to, if any
    waited: float = 0.0  # seconds since it was submitted


@dataclass
class _Lane:
    """One usable server as the pass hands out its slots."""

    load: ServerLoad
    free: float  # seconds until it would start a new job
    warmth: Warmth
    room: int

    @classmethod
    def of(cls, load: ServerLoad) -> _Lane:
        depth = load.max_queued if load.max_queued is not None else DEPTH
        return cls(load, load.expected_start(NOTHING), load.warmth or Warmth(), depth - load.outstanding)

    @property
    def pace(self) -> float:
        job = self.warmth.job_seconds
        return (job if job is not None else DEFAULT_JOB_SECONDS) / max(self.load.weight, 0.01)

    def serves(self, key: Key) -> bool:
        return all(self.warmth.is_warm(f) for f in key)

    def take(self, key: Key) -> None:
        self.free += self.pace + self.warmth.load_cost(key)
        self.warmth = self.warmth.after(key)
        self.room -= 1


class _Backlog:
    """The waiting jobs by model set, each set in the fair order (with its positions)."""

    def __init__(self, jobs: Sequence[Queued], lanes: list[_Lane]) -> None:
        self.sets: dict[Key, deque[tuple[int, Queued]]] = {}
        for position, job in enumerate(jobs[:WINDOW]):
            key = tuple(job.needs.files())
            if key and job.locked is None:
                self.sets.setdefault(key, deque()).append((position, job))
        self.fits = {
            (lane.load.id, key): lane.load.fits(waiting[0][1].needs)
            for lane in lanes
            for key, waiting in self.sets.items()
        }

    def runnable(self, lane: _Lane) -> list[Key]:
        return [key for key in self.sets if self.fits[lane.load.id, key]]

    def first(self, key: Key) -> int:
        return self.sets[key][0][0]

    def waited(self, key: Key) -> float:
        return self.sets[key][0][1].waited

    def pop(self, key: Key) -> Queued:
        _, job = self.sets[key].popleft()
        if not self.sets[key]:
            del self.sets[key]
        return job

    def serving(self, key: Key, lanes: list[_Lane], without: _Lane) -> list[_Lane]:
        """The servers but `without` that can run `key` and will have it loaded."""
        return [o for o in lanes if o is not without and self.fits[o.load.id, key] and o.serves(key)]

    def end(self, key: Key, lanes: list[_Lane], without: _Lane) -> float:
        """When the servers serving `key`, but `without`, would be through its backlog, each
        job going to whichever of them finishes it first (endless when none serves it). The
        server that would finish the first job soonest never waits for the others, so every
        backlog moves."""
        serving = self.serving(key, lanes, without)
        if not serving:
            return math.inf
        done = [(o.free + o.pace, o.pace) for o in serving]
        heapq.heapify(done)
        last = 0.0
        for _ in self.sets[key]:
            last, pace = heapq.heappop(done)
            heapq.heappush(done, (last + pace, pace))
        return last

    def drain(self, key: Key, lanes: list[_Lane], without: _Lane) -> float:
        """Seconds the backlog of `key` takes on the servers serving it, but `without`."""
        serving = self.serving(key, lanes, without)
        if not serving:
            return math.inf
        return len(self.sets[key]) * min(o.pace for o in serving) / len(serving)


def plan(
    servers: Sequence[ServerLoad], jobs: Sequence[Queued], settle: float = 0.0
) -> dict[uuid.UUID, int | None]:
    """For the jobs (in the fair order) that need model files and that some usable server
    can run: the server to bind each to now, or None for one that waits for a later pass.
    Jobs left out (no model files, a tab lock, nothing usable can run them) are placed as
    before (jobs.pool.balancer, jobs.pool.placement).

    `settle`: seconds a model set's oldest job must have waited before a server loads the set
    for it. Jobs come in bursts over HTTP, one request at a time; a load decided on the first
    job of a burst is decided without the rest of it. A job whose model is warm somewhere
    with room goes at once."""
    lanes = [_Lane.of(s) for s in servers if s.enabled and s.online and not s.draining]
    by_id = {lane.load.id: lane for lane in lanes}
    for job in jobs[:WINDOW]:
        if job.locked is not None and job.locked in by_id:
            by_id[job.locked].take(tuple(job.needs.files()))
    backlog = _Backlog(jobs, lanes)
    targets: dict[uuid.UUID, int | None] = {}
    while backlog.sets:
        open_lanes = [lane for lane in lanes if lane.room > 0 and backlog.runnable(lane)]
        if not open_lanes:
            break
        lane = min(open_lanes, key=lambda lane: (lane.free, lane.load.name))
        key = _choose(lane, backlog.runnable(lane), lanes, backlog, settle)
        if key is None:
            lane.room = 0  # nothing worth its load: its slot stays free this pass
            continue
        targets[backlog.pop(key).job_id] = lane.load.id
        lane.take(key)
    for key, waiting in backlog.sets.items():
        if any(backlog.fits[lane.load.id, key] for lane in lanes):
            targets.update((job.job_id, None) for _, job in waiting)
    # Beyond the window: later in the fair order than every planned job, so they wait too.
    targets.update((job.job_id, None) for job in jobs[WINDOW:] if job.locked is None and job.needs.models)
    return targets


def _choose(
    lane: _Lane, keys: list[Key], lanes: list[_Lane], backlog: _Backlog, settle: float = 0.0
) -> Key | None:
    """The model set a free slot of `lane` serves (the rules in the module docstring), or None
    when every set it could take is better left to the servers where it is warm."""

    def drain(key: Key) -> float:
        return backlog.drain(key, lanes, lane)

    def worth_loading(key: Key) -> bool:
        """The load pays: the servers serving `key` would not get through its backlog before
        this one is done loading it and running the job (a job waits for a warm server unless
        the wait there exceeds the load here: the backlog's end is what the choice moves)."""
        return lane.free + lane.warmth.load_cost(key) + lane.pace < backlog.end(key, lanes, lane)

    def its_turn(key: Key) -> bool:
        """A warm `lane` busy for longer than another server serving `key` takes a job of it
        only if the others would not get through its backlog before this one ran the job: a
        server with room in its queue (but a load or a long queue ahead) does not take the
        job a full one would finish sooner."""
        return lane.free + lane.pace <= backlog.end(key, lanes, lane)

    def slowest(candidates: list[Key]) -> Key:
        return max(candidates, key=lambda key: (drain(key), -backlog.first(key)))

    warm = [key for key in keys if lane.serves(key) and its_turn(key)]
    cold = [key for key in keys if key not in warm and backlog.waited(key) >= settle and worth_loading(key)]
    if not warm:
        return slowest(cold) if cold else None
    stay = min(warm, key=backlog.first)
    if not cold:
        return stay
    other = slowest(cold)
    load = lane.warmth.load_cost(other)
    if drain(other) - drain(stay) > SWITCH_FACTOR * load:
        return other
    if math.isinf(drain(other)) and backlog.waited(other) > PATIENCE * load:
        return other
    return stay
