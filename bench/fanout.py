"""Figure 3: many connected tabs on one web process: its memory, and how long one event takes
to reach every tab.

ComfyWeb routes events per job, so "one event to every tab" is one progress frame for each tab's
job, sent back to back by the server: the time from the first frame's send to the last tab's
receipt. Each tab holds one real job (held on the server) so that its frames are routed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from bench.clients import FloodLog, PlainTab
from bench.control import SimControl, TabSet, bounded, wait_until
from bench.hop import HOLD
from bench.procs import Proc, Stack, rss_bytes

MB = 1024 * 1024


def _spread(pairs: list[tuple[int, int] | None]) -> float | None:
    """From the first frame's send to the last tab's receipt, in ms."""
    found = [pair for pair in pairs if pair is not None]
    if not found:
        return None
    return round((max(r for _, r in found) - min(s for s, _ in found)) / 1e6, 2)


async def comfyweb_tabs(
    web_urls: list[str],
    sim: SimControl,
    relay_client_id: str,
    web_pid: int,
    *,
    tabs: int,
    tabs_per_session: int,
    timeout: float,
) -> dict[str, Any]:
    rss_before = rss_bytes(web_pid)
    await sim.faults(delay=HOLD)
    started = time.monotonic()
    tab_set = await TabSet(web_urls).open(tabs, tabs_per_session, concurrency=32)
    connected_s = time.monotonic() - started
    try:
        rss_tabs = rss_bytes(web_pid)
        job_ids = await tab_set.submit_one_each(image_base=3_000_000, concurrency=16)
        await tab_set.wait_all(job_ids, ("queued", "running"), timeout)
        await asyncio.sleep(1.0)
        rss_jobs = rss_bytes(web_pid)
        for tab in tab_set.tabs:
            tab.flood = FloodLog()
        before = {tab.id: tab.progress for tab in tab_set.tabs}
        await sim.flood(relay_client_id, job_ids, rate=0, kinds=["progress"], seconds=60)
        await wait_until(
            lambda: all(tab.progress > before[tab.id] for tab in tab_set.tabs),
            timeout,
            "the event to reach every tab",
        )
        return {
            "tabs": tabs,
            "connect_s": round(connected_s, 2),
            "rss_idle_mb": round(rss_before / MB, 1),
            "rss_tabs_mb": round(rss_tabs / MB, 1),
            "rss_mb": round(rss_jobs / MB, 1),
            "fanout_ms": _spread([tab.flood.last for tab in tab_set.tabs]),
            "reached": sum(1 for tab in tab_set.tabs if tab.progress > before[tab.id]),
        }
    finally:
        await sim.faults(delay=0)
        await sim.release()
        await tab_set.close()


async def floor_tabs(
    stack: Stack, module: str, sim_proc: Proc, sim: SimControl, *, tabs: int
) -> dict[str, Any]:
    client_id = f"floor-{uuid.uuid4().hex[:12]}"
    source = sim_proc.url.replace("http://", "ws://") + f"/ws?clientId={client_id}"
    floor = stack.module(module.rsplit(".", 1)[-1] + "-tabs", module, "--source", source)
    await sim.wait_socket(client_id)
    rss_before = rss_bytes(floor.pid)
    prompt_ids = [str(uuid.uuid4()) for _ in range(tabs)]
    sockets = [PlainTab(f"ws://127.0.0.1:{floor.port}/ws/{p}/") for p in prompt_ids]
    started = time.monotonic()
    await bounded(sockets, lambda s: s.connect(), 32)
    connected_s = time.monotonic() - started
    await asyncio.sleep(1.0)
    rss = rss_bytes(floor.pid)
    try:
        await sim.flood(client_id, prompt_ids, rate=0, kinds=["progress"], seconds=60)
        await wait_until(
            lambda: all(s.flood.latencies_ns for s in sockets), 60, "the event to reach every floor tab"
        )
        return {
            "tabs": tabs,
            "connect_s": round(connected_s, 2),
            "rss_idle_mb": round(rss_before / MB, 1),
            "rss_mb": round(rss / MB, 1),
            "fanout_ms": _spread([s.flood.last for s in sockets]),
            "reached": sum(1 for s in sockets if s.flood.latencies_ns),
        }
    finally:
        await bounded(sockets, lambda s: s.close(), 64)
        floor.process.terminate()
