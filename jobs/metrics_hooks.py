"""Where the relay reports timings; the Prometheus metrics themselves live in jobs.metrics."""

from __future__ import annotations

from jobs.metrics import COMPLETION_SECONDS, DISPATCH_SECONDS, RELAY_LAG_SECONDS


def dispatched(seconds: float) -> None:
    """From the job's creation to its prompt accepted by the server."""
    DISPATCH_SECONDS.observe(max(seconds, 0.0))


def completed(seconds: float | None) -> None:
    """From the terminal frame to the job stored as finished, outputs included."""
    if seconds is not None:
        COMPLETION_SECONDS.observe(max(seconds, 0.0))


def relay_lag(seconds: float) -> None:
    """How late the relay's periodic pass runs behind its schedule."""
    RELAY_LAG_SECONDS.set(max(seconds, 0.0))
