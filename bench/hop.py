"""Figure 2: the relay hop. ComfyUI progress frames enter at a fixed total rate across many tabs;
measured from the simulator's send to the tab's receipt, with the forwarding process's CPU.

ComfyWeb: every tab has one real job on the server, held there (a long node delay) so its
frames are routed; the flood then targets those prompts. Partway through the flood the hold is
released and every job runs to the end, so the numbered state changes (running, succeeded)
travel through the same layer as the flood: lost = seq gaps + final states that never came.

Floors: the same flood into a bare Daphne + Channels app and into a plain websockets server.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from bench.clients import PlainTab
from bench.control import SimControl, TabSet, bounded, socket_counters
from bench.procs import METRICS_TOKEN, CpuMeter, Proc, Stack
from bench.stats import summary_ms

HOLD = 600.0  # seconds a node "works" while held; the release ends it early


async def comfyweb_hop(
    web_urls: list[str],
    sim: SimControl,
    relay_client_id: str,
    cpu_pids: dict[str, int],
    *,
    tabs: int,
    tabs_per_session: int,
    rate: float,
    seconds: float,
    release_at: float,
    timeout: float,
) -> dict[str, Any]:
    await sim.faults(delay=HOLD)
    tab_set = await TabSet(web_urls).open(tabs, tabs_per_session)
    try:
        job_ids = await tab_set.submit_one_each(image_base=2_000_000)
        await tab_set.wait_all(job_ids, ("queued", "running"), timeout)
        await sim.faults(delay=0)
        pid_by_name = cpu_pids
        meter = CpuMeter(list(pid_by_name.values()))
        flood = await sim.flood(relay_client_id, job_ids, rate=rate, seconds=seconds)
        await asyncio.sleep(seconds * release_at)
        release_ns = time.monotonic_ns()
        released = await sim.release()
        report = await sim.wait_flood(relay_client_id, seconds + 30)
        cpu = meter.stop()
        await tab_set.wait_all(job_ids, ("succeeded", "failed", "cancelled"), timeout)
        await _settle(lambda: max(t.last_receipt_ns for t in tab_set.tabs))
        latencies = [v for tab in tab_set.tabs for v in tab.flood.latencies_ns]
        samples = [
            pair
            for tab in tab_set.tabs
            for pair in zip(tab.flood.sent_ns, tab.flood.latencies_ns, strict=True)
        ]
        before = [lat for sent, lat in samples if sent < release_ns]
        after = [lat for sent, lat in samples if sent >= release_ns]
        return {
            "tabs": tabs,
            "rate": rate,
            "seconds": seconds,
            "flood": {k: report[k] for k in ("sent", "dropped", "achieved_rate", "elapsed")},
            "received": len(latencies),
            "repeats": sum(tab.flood.repeats for tab in tab_set.tabs),
            **summary_ms(latencies),
            "before_release": summary_ms(before),
            "after_release": summary_ms(after),
            "states": tab_set.state_report(job_ids),
            "sockets": await socket_counters(web_urls, METRICS_TOKEN),
            "released": released,
            "cpu_cores": {name: round(cpu[pid], 3) for name, pid in pid_by_name.items()},
            "requested": flood["count"] if flood["count"] < 10_000_000 else None,
        }
    finally:
        await sim.faults(delay=0)
        await sim.release()
        await tab_set.close()


async def floor_hop(
    stack: Stack, module: str, sim_proc: Proc, sim: SimControl, *, tabs: int, rate: float, seconds: float
) -> dict[str, Any]:
    client_id = f"floor-{uuid.uuid4().hex[:12]}"
    source = sim_proc.url.replace("http://", "ws://") + f"/ws?clientId={client_id}"
    floor = stack.module(module.rsplit(".", 1)[-1], module, "--source", source)
    await sim.wait_socket(client_id)
    prompt_ids = [str(uuid.uuid4()) for _ in range(tabs)]
    sockets = [PlainTab(f"ws://127.0.0.1:{floor.port}/ws/{p}/") for p in prompt_ids]
    await bounded(sockets, lambda s: s.connect(), 32)
    await asyncio.sleep(0.5)
    meter = CpuMeter([floor.pid])
    await sim.flood(client_id, prompt_ids, rate=rate, seconds=seconds)
    report = await sim.wait_flood(client_id, seconds + 30)
    cpu = meter.stop()
    await _settle(lambda: max(s.last_receipt_ns for s in sockets))
    latencies = [v for s in sockets for v in s.flood.latencies_ns]
    await bounded(sockets, lambda s: s.close(), 64)
    return {
        "tabs": tabs,
        "rate": rate,
        "seconds": seconds,
        "flood": {k: report[k] for k in ("sent", "dropped", "achieved_rate", "elapsed")},
        "received": len(latencies),
        **summary_ms(latencies),
        "cpu_cores": {"floor": round(cpu[floor.pid], 3)},
    }


async def _settle(last_receipt, quiet: float = 1.0, timeout: float = 30.0) -> None:
    """Wait until nothing has arrived for `quiet` seconds (the backlog drained), bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if time.monotonic_ns() - last_receipt() > quiet * 1e9:
            return
        await asyncio.sleep(0.1)
