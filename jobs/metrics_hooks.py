"""Where the relay reports timings; the Prometheus metrics themselves live in jobs.metrics."""

from __future__ import annotations

import importlib
from typing import Any


def _metric(name: str) -> Any | None:
    try:
        return getattr(importlib.import_module("jobs.metrics"), name, None)
    except ImportError:
        return None


def dispatched(seconds: float) -> None:
    """From the job's creation to its prompt accepted by the server."""
    histogram = _metric("DISPATCH_SECONDS")
    if histogram is not None:
        histogram.observe(max(seconds, 0.0))


def completed(seconds: float | None) -> None:
    """From the terminal frame to the job stored as finished, outputs included."""
    histogram = _metric("COMPLETION_SECONDS")
    if histogram is not None and seconds is not None:
        histogram.observe(max(seconds, 0.0))


def relay_lag(seconds: float) -> None:
    """How late the relay's periodic pass runs behind its schedule."""
    gauge = _metric("RELAY_LAG_SECONDS")
    if gauge is not None:
        gauge.set(max(seconds, 0.0))
