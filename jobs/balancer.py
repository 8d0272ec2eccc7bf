"""Pick the server for a tab that has no lock: plain functions over a snapshot of the pool."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerLoad:
    """What the balancer knows of one usable server at the moment of choosing."""

    id: int
    name: str
    outstanding: int  # ComfyWeb jobs placed on it and not finished
    queue_remaining: int = 0  # the server's own queue length, from its `status` frames


def pick_server(candidates: list[ServerLoad]) -> ServerLoad | None:
    """Least outstanding work first; then the shorter server queue; then by name for stability.

    `candidates` holds only servers that may take a new lock (enabled, not offline).
    """
    if not candidates:
        return None
    return min(candidates, key=lambda s: (s.outstanding, s.queue_remaining, s.name))
