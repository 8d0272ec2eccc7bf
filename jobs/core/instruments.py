"""Where the relay reports timings, and the registry that /metrics exposes (jobs.operators.metrics).

The instruments live here, not beside the view, so that the relay reports to them without
importing the operators' side of the application.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

DISPATCH_SECONDS = Histogram(
    "comfyweb_dispatch_seconds",
    "From a job's creation (pending) to ComfyUI accepting its prompt (queued), per attempt.",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
COMPLETION_SECONDS = Histogram(
    "comfyweb_completion_seconds",
    "From ComfyUI's terminal frame of a prompt to its job ended in ComfyWeb (history read, outputs stored).",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
RELAY_LAG_SECONDS = Gauge(
    "comfyweb_relay_lag_seconds",
    "How far the relay runs behind: seconds from a due poll, nudge or ComfyUI frame to its handling.",
    registry=REGISTRY,
)

EVENTS_EARLY = Counter(
    "comfyweb_socket_events_early",
    "Numbered tab events that reached a socket before the one before them and waited for it "
    "(published by different processes or tasks; jobs.core.ordering).",
    registry=REGISTRY,
)
SOCKET_REFRESHES = Counter(
    "comfyweb_socket_refreshes",
    "Fresh tab states a socket sent unasked because a numbered event stayed missing "
    "(lost by the channel layer).",
    registry=REGISTRY,
)


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
