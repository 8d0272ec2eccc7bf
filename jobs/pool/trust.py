"""When a server's health may be believed, and when a server that failed is trusted again.

Plain functions and a small state machine, no Django: the relay feeds them what it sees, the
balancer reads their verdict.

- **Freshness.** A status in the database is evidence only while the relay process that
  holds the server's lease wrote it and still holds that lease (relays renew their leases
  every second or so). A status left by an earlier process, or by a relay whose lease
  expired, says nothing about the server now: it counts as unknown, and an unknown server
  takes no new lock.
- **Flapping.** A server that answered, failed and answers again is not trusted the moment
  it answers: it stays offline (and keeps its `offline_since`, so failover of its tabs still
  happens) until it has answered several probes in a row. A server this relay has never seen
  fail is trusted on its first answer, so a fresh start costs no waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

UNKNOWN = "unknown"
GOOD_IN_A_ROW = 3  # answers in a row before a server that failed is trusted again


def effective_status(
    status: str, written_by: str, lease_holder: str | None, lease_expires: datetime | None, now: datetime
) -> str:
    """The stored status, or unknown when the relay that wrote it no longer vouches for it."""
    if not written_by or lease_holder != written_by or lease_expires is None or lease_expires <= now:
        return UNKNOWN
    return status


@dataclass
class Trust:
    """What one watcher has seen of its server since it started watching it."""

    good_in_a_row: int = GOOD_IN_A_ROW
    failed_before: bool = False  # this watcher has seen the server fail
    trusted: bool = False
    streak: int = 0

    def answered(self) -> bool:
        """The server answered (socket opened, probe succeeded); True when it is trusted now."""
        self.streak += 1
        if not self.trusted and (not self.failed_before or self.streak >= self.good_in_a_row):
            self.trusted = True
        return self.trusted

    def failed(self) -> bool:
        """The server failed (refused, timed out, dropped); True when this is a flap: it was
        trusted until now."""
        flap = self.trusted
        self.trusted = False
        self.failed_before = True
        self.streak = 0
        return flap
