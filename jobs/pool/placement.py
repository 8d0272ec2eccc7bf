"""Whether a job can run anywhere in the pool, and if not now, why it waits.

A job goes only to a server whose inventory has every node class and model file it needs
(jobs.pool.balancer). Here the pool as a whole is judged, over every enabled server:

- refused, at submission and at dispatch, when no enabled server can run it and every
  enabled server's inventory is known (the last one read counts, even if the server is
  offline now): the message names what is missing;
- waiting, with a reason a person can act on, when only offline servers can run it, or when
  a server whose inventory was never read might.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jobs.pool.balancer import ServerLoad
from jobs.pool.requirements import Needs


@dataclass(frozen=True)
class Waiting:
    """Why a job cannot start now: only `servers` could run it, and they are offline
    (`state` "offline") or have never been read ("unknown"); `what` names what it needs."""

    what: str
    servers: tuple[str, ...]
    state: str

    @property
    def message(self) -> str:
        names = _join(self.servers)
        if self.state == "offline":
            have = "has it and is" if len(self.servers) == 1 else "have it and are"
            return f"Waiting for a server with {self.what}: {names} {have} offline."
        return f"Waiting for a server with {self.what}: the models of {names} are not known yet."

    def reason(self) -> dict[str, Any]:
        """The JOB's `waiting` (docs/api.md §3): the page words it in the user's language."""
        return {
            "code": "no_capable_server_online",
            "message": self.message,
            "what": self.what,
            "servers": list(self.servers),
            "state": self.state,
        }


@dataclass(frozen=True)
class Verdict:
    refusal: str | None = None  # no enabled server can ever run it: the job fails
    waiting: Waiting | None = None  # why it cannot start now, beside "no room"

    @property
    def refused(self) -> bool:
        return self.refusal is not None


def _join(names: Iterable[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _names(servers: Iterable[ServerLoad]) -> tuple[str, ...]:
    return tuple(sorted(s.name for s in servers))


def _things(items: list[str], needs: Needs) -> str:
    files = [i for i in items if i not in needs.nodes]
    nodes = [i for i in items if i in needs.nodes]
    parts = []
    if nodes:
        parts.append(("the node " if len(nodes) == 1 else "the nodes ") + ", ".join(nodes))
    if files:
        parts.append(", ".join(files))
    return " and ".join(parts)


def judge(loads: Iterable[ServerLoad], needs: Needs) -> Verdict:
    """The pool's verdict on a job with these needs (online or not, draining or not)."""
    enabled = [s for s in loads if s.enabled]
    if not enabled:
        return Verdict()  # no server at all: it waits for one (the "no server" reason)
    fitting = [s for s in enabled if s.fits(needs)]
    unknown = [s for s in enabled if s.inventory is None]
    if not fitting and not unknown:
        return Verdict(refusal=_refusal(enabled, needs))
    if any(s.online for s in fitting):
        return Verdict()
    lacked = sorted({item for s in enabled if s.inventory is not None for item in s.lacking(needs)})
    if not lacked and not needs.models:
        return Verdict()  # every known server would fit: only reachability is missing
    what = _things(lacked, needs) or ", ".join(needs.files())
    if fitting:
        return Verdict(waiting=Waiting(what, _names(fitting), "offline"))
    return Verdict(waiting=Waiting(what, _names(unknown), "unknown"))


def _refusal(enabled: list[ServerLoad], needs: Needs) -> str:
    """Names what no server has; or, when each part is somewhere but never all on one
    server, what each server lacks."""
    lacks = {s.name: s.lacking(needs) for s in enabled}
    nowhere = sorted(set.intersection(*(set(items) for items in lacks.values())))
    if nowhere:
        return f"No server in the pool has {_things(nowhere, needs)}."
    each = "; ".join(f"{name} lacks {_things(items, needs)}" for name, items in sorted(lacks.items()))
    return f"No server in the pool has everything this job needs: {each}."


def where_it_runs(loads: Iterable[ServerLoad], needs: Needs) -> tuple[list[str], dict[str, list[str]]]:
    """For operators: the enabled servers that can run it, and what each other one lacks
    (a server whose inventory is not known lacks nothing known and is listed as able)."""
    able: list[str] = []
    lacking: dict[str, list[str]] = {}
    for server in sorted((s for s in loads if s.enabled), key=lambda s: s.name):
        if server.fits(needs):
            able.append(server.name)
        else:
            lacking[server.name] = server.lacking(needs) or ["its model list (not read yet)"]
    return able, lacking
