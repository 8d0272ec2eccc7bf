"""A tab's numbered events put back in seq order before they reach one of its sockets.

Each tab's state changes are numbered in the database (SPEC §5), but they are published by
whichever process made them: the web process that took the submission, the relay that bound,
queued, ran and finished the job. With several processes on a channel layer, the relay may act
on a job committed a moment ago and publish its next change before the web process's own event
for it has left: a socket hears seq 3, then 2. The page would take that for a loss and ask for
a resync; a ComfyUI client, which has no seq, would see a job finish and then start again. So
every socket releases its numbered events strictly one after another, holding any that arrive
early (and the unnumbered ones that came after them), and only a gap that outlasts a short
wait (an event truly lost: channel layers deliver at most once) costs a fresh read of the
tab's state.

Plain and synchronous: jobs.core.delivery owns the socket, the wait and the fresh read.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")

# Unnumbered items held behind a gap at the most (a flood of progress while the tab's state
# cannot be read, say): past it the oldest are dropped, as a channel layer may drop them.
BEHIND_MAX = 1000


class InOrder(Generic[T]):
    """Items numbered by seq, released in order from `current + 1` on; unnumbered items
    (progress, queue places) keep their place behind the numbered ones that came before them,
    so that a job's place is not told before the job is known to be queued."""

    def __init__(self, current: int) -> None:
        self.current = current  # the seq the socket is current to
        self.early: dict[int, T] = {}  # arrived before the seq just after `current`
        self.behind: deque[tuple[int, T]] = deque()  # unnumbered: after the seq they follow
        self.held = False  # a fresh state is being read: release nothing until restart

    def offer(self, seq: int | None, item: T) -> None:
        """Take an item; a numbered one at or below `current` is stale (the state sent has
        it) and dropped."""
        if seq is None:
            if len(self.behind) >= BEHIND_MAX:
                self.behind.popleft()  # unnumbered ones may be lost (SPEC §5): the oldest go
            self.behind.append((max(self.early, default=self.current), item))
        elif seq > self.current:
            self.early.setdefault(seq, item)

    def next(self) -> T | None:
        """The next item to send, or None when the one after `current` has not come."""
        if self.held:
            return None
        if self.behind and self.behind[0][0] <= self.current:
            return self.behind.popleft()[1]
        item = self.early.pop(self.current + 1, None)
        if item is not None:
            self.current += 1
        return item

    @property
    def gap(self) -> bool:
        """Items wait for one that has not come (after `next` returned None)."""
        return bool(self.early)

    def hold(self) -> None:
        self.held = True

    def restart(self, current: int | None) -> None:
        """A fresh state current to `current` was sent: what it covers is dropped, the rest
        goes on in order. None: the read failed, so the gap stays and is tried again."""
        self.held = False
        if current is not None and current > self.current:
            self.current = current
            self.early = {seq: item for seq, item in self.early.items() if seq > current}
