"""Warm models: what a server holds loaded, what a load costs there, and when it pays to wait.

A GPU spends seconds to a minute loading a model it does not hold; a pool that ignores this
spends its time loading. The relay learns per server (`learn`) which model files its last
prompts used (most recent first: the ones still in VRAM, up to the `capacity` seen to fit) and
how long each load took (a loader node's time from its `executing` to the next node's).
`expected_start` puts a server's queue and a job's loads there in seconds; the policy that
weighs them for the whole queue is jobs.pool.schedule.
Plain functions over plain data, no Django.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

# Below this a loader's time is a warm hit (a resident model, or a cached node), not a load.
LOAD_THRESHOLD = 0.25
# A job's run time and a load's, before a server has shown its own.
DEFAULT_JOB_SECONDS = 1.0
DEFAULT_LOAD_SECONDS = 3.0
EWMA = 0.3  # weight of the newest observation
MAX_KEPT = 16  # load times and recent files remembered per server


@dataclass(frozen=True)
class Warmth:
    """One server's warm models (most recent first) and the times learned there."""

    recent: tuple[str, ...] = ()
    capacity: int = 1  # how many recent files were seen to stay loaded together
    load_seconds: Mapping[str, float] = field(default_factory=dict)
    job_seconds: float | None = None  # a prompt's run time, loads excluded

    def warm(self) -> tuple[str, ...]:
        return self.recent[: self.capacity]

    def is_warm(self, file: str) -> bool:
        return file in self.warm()

    def load_cost(self, files: Iterable[str]) -> float:
        """Seconds of loading a job with these model files would cost here."""
        return sum(self._load_time(f) for f in files if not self.is_warm(f))

    def _load_time(self, file: str) -> float:
        if file in self.load_seconds:
            return self.load_seconds[file]
        known = list(self.load_seconds.values())
        return sum(known) / len(known) if known else DEFAULT_LOAD_SECONDS

    def after(self, files: Iterable[str]) -> Warmth:
        """As it will be once the work already placed there ran, the last job using `files`:
        a new job starts after them, with their models loaded, not today's."""
        used = list(dict.fromkeys(files))
        return replace(self, recent=tuple(used + [f for f in self.recent if f not in used])[:MAX_KEPT])

    def to_json(self) -> dict[str, Any]:
        return {
            "recent": list(self.recent),
            "capacity": self.capacity,
            "load_seconds": {k: round(v, 3) for k, v in self.load_seconds.items()},
            "job_seconds": None if self.job_seconds is None else round(self.job_seconds, 3),
        }


def warmth_from_json(data: Mapping[str, Any] | None) -> Warmth:
    if not isinstance(data, Mapping):
        return Warmth()
    loads, job, recent, capacity = (
        data.get(k) for k in ("load_seconds", "job_seconds", "recent", "capacity")
    )
    return Warmth(
        recent=tuple(f for f in recent if isinstance(f, str)) if isinstance(recent, list) else (),
        capacity=max(capacity, 1) if isinstance(capacity, int) else 1,
        load_seconds={str(k): float(v) for k, v in loads.items()} if isinstance(loads, Mapping) else {},
        job_seconds=float(job) if isinstance(job, int | float) else None,
    )


def learn(before: Warmth, used: Iterable[str], run_seconds: float) -> Warmth:
    """What one finished prompt with these model files teaches, from its run time alone
    (wherever a server spends its load: in the loader, or in the sampler moving weights to
    VRAM). A run with every file warm times a job; a run with cold files times their load
    (less a job, once a job is timed); a file believed cold that ran with no load shows the
    capacity is larger. The files used become the most recent."""
    used = list(dict.fromkeys(used))
    cold = [f for f in used if not before.is_warm(f)]
    capacity, load_seconds, job = before.capacity, dict(before.load_seconds), before.job_seconds
    extra = run_seconds - (job or 0.0)
    if not cold:
        job = _average(job, run_seconds)
    elif job is None:
        pass  # a cold run before any warm one: its load cannot be told from its work yet
    elif extra < LOAD_THRESHOLD:
        # Nothing was loaded after all: those files were still resident.
        capacity = max([capacity, *(before.recent.index(f) + 1 for f in cold if f in before.recent)])
        job = _average(job, run_seconds)
    else:
        for file in cold:
            load_seconds[file] = _average(load_seconds.get(file), max(extra, 0.0) / len(cold))
    load_seconds = dict(list(load_seconds.items())[-MAX_KEPT:])
    recent = tuple(used + [f for f in before.recent if f not in used])[:MAX_KEPT]
    return replace(before, recent=recent, capacity=capacity, load_seconds=load_seconds, job_seconds=job)


def _average(old: float | None, new: float) -> float:
    return new if old is None else old + EWMA * (new - old)


def expected_start(warmth: Warmth | None, jobs_ahead: float, weight: float, files: Iterable[str]) -> float:
    """Seconds until a new job with these model files would be done loading here: the work
    queued ahead of it (at this server's pace) plus the loads it needs."""
    warmth = warmth or Warmth()
    pace = warmth.job_seconds if warmth.job_seconds is not None else DEFAULT_JOB_SECONDS
    return jobs_ahead * pace / max(weight, 0.01) + warmth.load_cost(files)
