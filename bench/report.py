"""The run's results as the figures the targets name, and as printed tables."""

from __future__ import annotations

from typing import Any

from bench.stats import check, table


def _level(rows: list[dict[str, Any]], tabs: int) -> dict[str, Any] | None:
    return next((row for row in rows if row["tabs"] == tabs), None)


def figures(parts: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    rows = parts.get("latency", {}).get("levels", [])
    at64 = _level(rows, 64) or (rows[-1] if rows and len(rows) < 4 else None)
    if at64:
        found["added_p50_ms_at_64"] = at64["added_p50_ms"]
        found["added_p99_ms_at_64"] = at64["added_p99_ms"]
        found["throughput_ratio_at_64"] = at64["throughput_ratio"]
        found["latency_level_used"] = at64["tabs"]
    at1 = _level(rows, 1)
    if at1:
        found["added_p50_ms_at_1"] = at1["added_p50_ms"]
    ratios = [row["cpu_ratio"] for row in rows if row.get("cpu_ratio") is not None]
    if ratios and len(ratios) == len(rows):
        found["cpu_ratio_worst"] = max(ratios)
        found["cpu_ratio_levels"] = [row["tabs"] for row in rows]
    web_hop = parts.get("hop", {}).get("comfyweb")
    if web_hop:
        found["hop_p50_ms"] = web_hop["p50_ms"]
        found["hop_p99_ms"] = web_hop["p99_ms"]
        found["hop_lost"] = web_hop["states"]["lost"]
    web_tabs = parts.get("tabs", {}).get("comfyweb")
    if web_tabs:
        found["tabs_rss_mb"] = web_tabs["rss_tabs_mb"]  # 1,000 tabs; rss_mb adds 1,000 held jobs
        found["tabs_fanout_ms"] = web_tabs["fanout_ms"]
    redis_hop = parts.get("redis", {}).get("hop")
    if redis_hop:
        found["redis_lost"] = redis_hop["states"]["lost"]
    pool = parts.get("pool")
    if pool:
        found["pool_speedup_vs_model_blind"] = pool["speedup_vs_model_blind"]
        found["pool_ratio_to_lower_bound"] = pool["ratio_to_lower_bound"]
    return found


def verdicts(found: dict[str, Any]) -> dict[str, Any]:
    return check(found)


def render(results: dict[str, Any]) -> str:
    parts = results["parts"]
    out: list[str] = []
    machine = results["machine"]
    out.append(f"ComfyWeb benchmark, {results['when']}, {machine['cpus']} CPUs, Python {machine['python']}")

    if "latency" in parts:
        out.append(
            _latency_table(
                "1. Time to result (upload → output downloaded), zero-delay jobs", parts["latency"]
            )
        )
    if "hop" in parts:
        out.append(_hop_table("2. Relay hop (simulator send → tab receipt)", parts["hop"]))
    if "tabs" in parts:
        out.append(_tabs_table(parts["tabs"]))
    if "redis" in parts:
        out.append(
            _latency_table("4a. Time to result with Redis (2 web processes + relay process)", parts["redis"])
        )
        out.append(_hop_table("4b. Relay hop with Redis", {"comfyweb+redis": parts["redis"]["hop"]}))

    if "pool" in parts:
        out.append(_pool_table(parts["pool"]))

    rows = [[t["label"], t["target"], t["value"], t["pass"]] for t in results["targets"].values()]
    out.append("\nTargets\n" + table(["target", "wanted", "measured", "result"], rows))
    for part, error in results.get("errors", {}).items():
        out.append(f"\n{part}: FAILED TO RUN: {error}")
    return "\n".join(out)


def _latency_table(title: str, part: dict[str, Any]) -> str:
    rows = []
    for row in part["levels"]:
        d, w = row["direct"], row["comfyweb"]
        rows.append(
            [
                row["tabs"],
                d["n"] + w["n"],
                d["p50_ms"],
                d["p99_ms"],
                w["p50_ms"],
                w["p99_ms"],
                row["added_p50_ms"],
                row["added_p99_ms"],
                d["throughput"],
                w["throughput"],
                row["throughput_ratio"],
                d.get("cpu_ms_per_job"),
                w.get("cpu_ms_per_job"),
                row.get("cpu_ratio"),
                d["errors"] + w["errors"],
            ]
        )
    headers = [
        "tabs",
        "jobs",
        "direct p50",
        "direct p99",
        "web p50",
        "web p99",
        "added p50",
        "added p99",
        "direct jobs/s",
        "web jobs/s",
        "ratio",
        "direct CPU ms/job",
        "web CPU ms/job",
        "CPU ratio",
        "errors",
    ]
    note = (
        f"(ms; ComfyWeb's servers have max_queued={part.get('max_queued', '-')},"
        " so both sides queue on the servers freely; CPU per job: direct = client + simulators,"
        " web = ComfyWeb's own processes)"
    )
    return f"\n{title}\n{note}\n" + table(headers, rows)


def _hop_table(title: str, part: dict[str, Any]) -> str:
    rows = []
    for name, r in part.items():
        states = r.get("states", {})
        cpu = ", ".join(f"{k} {v:.2f}" for k, v in r["cpu_cores"].items())
        rows.append(
            [
                name,
                r["tabs"],
                r["rate"],
                r["flood"]["achieved_rate"],
                r["flood"]["sent"],
                r["received"],
                r["p50_ms"],
                r["p99_ms"],
                r["max_ms"],
                states.get("lost", "-"),
                states.get("refreshed", "-"),
                r.get("sockets", {}).get("early", "-"),
                cpu,
            ]
        )
        for phase in ("before_release", "after_release"):
            if phase in r:
                f = r[phase]
                label = f"  sent {phase.replace('_', ' ')}"
                rows.append([label, "", "", "", "", f["n"], f["p50_ms"], f["p99_ms"], f["max_ms"], *[""] * 4])
    headers = [
        "server",
        "tabs",
        "frames/s",
        "achieved/s",
        "sent",
        "received",
        "p50 ms",
        "p99 ms",
        "max ms",
        "lost states",
        "refreshed",
        "came early",
        "CPU (cores)",
    ]
    note = "(ComfyWeb: the held jobs are released partway, so state changes cross the flood; frames of"
    note += " finished jobs are dropped by design; refreshed: snapshots sent for an event missing past the"
    note += " socket's wait; came early: numbered events that reached a socket before the one before"
    note += " them and waited for it)"
    return f"\n{title}\n{note}\n" + table(headers, rows)


def _tabs_table(part: dict[str, Any]) -> str:
    rows = [
        [
            name,
            r["tabs"],
            r["connect_s"],
            r["rss_idle_mb"],
            r.get("rss_tabs_mb", r["rss_mb"]),
            r["rss_mb"] if "rss_tabs_mb" in r else None,
            r["fanout_ms"],
            r["reached"],
        ]
        for name, r in part.items()
    ]
    headers = [
        "server",
        "tabs",
        "connect s",
        "RSS idle MB",
        "RSS tabs MB",
        "+1 job/tab MB",
        "event to all ms",
        "tabs reached",
    ]
    return "\n3. Connected tabs on one web process\n" + table(headers, rows)


def _pool_table(pool: dict[str, Any]) -> str:
    work = pool["workload"]
    seeds = ", ".join(str(seed) for seed in work["seeds"])
    title = (
        f"\n5. Warm models: {work['servers']} servers each holding 2 of {work['checkpoints']} checkpoints, "
        f"VRAM for {work['vram_models']}, load {work['load_s']:g} s, sampling {work['sample_s']:g} s, "
        f"{work['jobs']} jobs from {work['sessions']} sessions in {work['bursts']} bursts "
        f"(seeds {seeds}; means, then each seed)"
    )
    runs = [("mean", pool)] + [(str(run["seed"]), run) for run in pool.get("runs", [])]
    policies = (
        ("ComfyWeb (warm)", "warm"),
        ("warmth-blind (P)", "blind"),
        ("lower bound", "lower_bound"),
        ("clairvoyant schedule", "clairvoyant"),
    )
    rows = [
        [f"{name} ({label})", run[key]["workload_s"], run[key]["mean_result_s"], run[key].get("p90_result_s"),
         run[key].get("loads")]
        for label, run in runs
        for name, key in policies
    ]  # fmt: skip
    text = title + "\n" + table(["placement", "workload s", "mean to result s", "p90 s", "loads"], rows)
    if "blind_over_clairvoyant" in pool:
        text += (
            f"\nwarmth-blind / clairvoyant schedule: {pool['blind_over_clairvoyant']:g}x (the most any"
            f" placement could gain over blind); ComfyWeb / clairvoyant: {pool['ratio_to_clairvoyant']:g}x"
        )
    return text
