"""Percentiles, the targets of issue 7, and the printed table."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(values_ns: Iterable[int]) -> dict[str, Any]:
    values = [v / 1e6 for v in values_ns]
    return {
        "n": len(values),
        "p50_ms": _round(percentile(values, 50)),
        "p99_ms": _round(percentile(values, 99)),
        "max_ms": _round(max(values) if values else None),
    }


def summary_s(values_s: Sequence[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "p50_ms": _round(percentile(ms, 50)),
        "p99_ms": _round(percentile(ms, 99)),
        "max_ms": _round(max(ms) if ms else None),
    }


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# --- targets -----------------------------------------------------------------------------------

TARGETS = {
    "added_p50_ms_at_64": ("added latency p50 at 64 tabs", "<=", 25.0),
    "added_p99_ms_at_64": ("added latency p99 at 64 tabs", "<=", 100.0),
    "throughput_ratio_at_64": ("throughput vs direct at 64 tabs", ">=", 0.9),
    "added_p50_ms_at_1": ("added latency p50 at 1 tab", "<=", 10.0),
    "cpu_ratio_worst": ("CPU per job vs direct, worst level", "<=", 1.5),
    "hop_p50_ms": ("relay hop p50 at 2,000 frames/s", "<=", 2.0),
    "hop_p99_ms": ("relay hop p99 at 2,000 frames/s", "<=", 10.0),
    "hop_lost": ("state changes lost (embedded)", "<=", 0),
    "tabs_rss_mb": ("RSS with 1,000 tabs (MB)", "<=", 150.0),
    "tabs_fanout_ms": ("one event to all 1,000 tabs (ms)", "<=", 200.0),
    "redis_lost": ("state changes lost with Redis", "<=", 0),
    "pool_speedup_vs_model_blind": ("pool workload, warmth-blind / ComfyWeb", ">=", 2.0),
    "pool_ratio_to_lower_bound": ("pool workload, ComfyWeb / lower bound", "<=", 1.25),
}


def check(figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target with its measured value and pass/fail (None: not measured in this run)."""
    verdicts = {}
    for key, (label, op, limit) in TARGETS.items():
        value = figures.get(key)
        passed = None if value is None else value <= limit if op == "<=" else value >= limit
        verdicts[key] = {"label": label, "target": f"{op} {limit}", "value": value, "pass": passed}
    return verdicts


# --- printing ----------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append(
            "  ".join(
                c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "PASS" if value else "FAIL"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)
